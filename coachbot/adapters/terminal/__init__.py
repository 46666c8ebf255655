"""The terminal chat: the same pipeline as Telegram, typed at a prompt."""
