"""Telegram updates as the service's inbound events: text, presses, commands, and everything else.

One pure function, `classify`, so every kind of update (a sticker, an edit, a group, a block) is
decided in one readable place and tested without a network. Anything unexpected maps to a polite
fixed answer or to nothing, never to an exception.
"""

from __future__ import annotations

from telegram import Chat, ChatMember, InlineKeyboardMarkup, Message, Update

from coachbot.adapters.telegram import alert_card
from coachbot.adapters.telegram.keyboards import label_of, parse_callback, verify
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import (
    ChannelCommand,
    EditedText,
    EscalationPress,
    Inbound,
    Notice,
    Outgoing,
    Press,
    ReachabilityChange,
)
from coachbot.engine import TextMessage

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
"""The only update kinds the bot asks Telegram for."""

CHANNEL_COMMANDS = {"checkin", "settings", "mydata"}
_JOINED = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR}
_GONE = {ChatMember.LEFT, ChatMember.BANNED}


def chat_key(update: object) -> int | None:
    """The chat an update belongs to, to handle one update at a time per chat."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def classify(update: Update, channel: TelegramChannel) -> tuple[int, Inbound] | None:
    """(chat id, event) for the service, or None when the update needs nothing at all."""
    if update.callback_query is not None:
        return _press(update, channel)
    if update.my_chat_member is not None:
        return _membership(update, channel)
    if update.edited_message is not None:
        edited = update.edited_message
        if not _known(edited.chat) or edited.chat.type != Chat.PRIVATE:
            return None
        notice = tuple(channel.text(channel.messages.edited_message))
        return edited.chat.id, EditedText(text=edited.text or edited.caption or "", notice=notice)
    message = update.message
    if message is None or not _known(message.chat) or message.from_user is None or message.from_user.is_bot:
        return None
    if message.chat.type != Chat.PRIVATE:
        # Group privacy: only commands addressed to the bot get an answer, which says where to talk.
        if (message.text or "").startswith("/"):
            return message.chat.id, Notice(tuple(channel.text(channel.messages.group_chat)))
        return None
    return message.chat.id, _private_message(message, channel)


def _known(chat: Chat | None) -> bool:
    """Whether the chat has an id: Telegram always sends one, but PTB also parses a hostile update
    without a chat or its id, and such an update has nobody to answer."""
    return chat is not None and isinstance(chat.id, int)


def _private_message(message: Message, channel: TelegramChannel) -> Inbound:
    if message.text is not None:
        text = message.text.strip()
        if text.startswith("/"):
            name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
            if name in CHANNEL_COMMANDS:
                return ChannelCommand(name, text)  # type: ignore[arg-type]
        return TextMessage(text)
    caption = (message.caption or "").strip()
    if caption:  # a caption is typed words: read it (words of crisis included); blank, it is media
        return TextMessage(caption)
    if message.photo:
        kind = "photo"
    elif message.sticker is not None:
        kind = "sticker"
    elif message.voice is not None or message.audio is not None or message.video_note is not None:
        kind = "voice"
    else:
        kind = "other"
    return Notice(tuple(channel.text(channel.media(kind))))  # type: ignore[arg-type]


def _press(update: Update, channel: TelegramChannel) -> tuple[int, Inbound] | None:
    query = update.callback_query
    assert query is not None
    message = query.message
    if message is None or not _known(message.chat) or query.from_user is None:
        return None  # the message pressed on is gone (or the update is not Telegram's): nothing to do
    alert = alert_card.parse(query.data)
    if alert is not None:  # an alert card's button: in a coach's chat or the group
        return message.chat.id, EscalationPress(
            action=alert[0], escalation_id=alert[1], user_id=query.from_user.id,
            message_id=message.message_id,
            shown=(message.caption or message.text or "") if isinstance(message, Message) else "",
            photo=bool(message.photo) if isinstance(message, Message) else False)
    if message.chat.type != Chat.PRIVATE:
        return message.chat.id, Notice()
    unsigned = verify(channel.button_key, message.chat.id, query.data)
    if unsigned is None:  # made up, or copied from another chat: the stale answer, nothing changes
        return message.chat.id, Press(token="", value="", forged=True)
    pressed = parse_callback(unsigned)
    if pressed is None:
        return message.chat.id, Notice()
    keyboard = message.reply_markup if isinstance(message, Message) else None
    shown = message.text if isinstance(message, Message) else None
    on_current: tuple[Outgoing, ...] = ()
    on_stale: tuple[Outgoing, ...] = ()
    if shown:
        label = label_of(keyboard, query.data) or pressed.value
        on_current = (Outgoing(kind="edit", payload={"message_id": message.message_id,
                                                     "text": channel.chosen(shown, label)}),)
    if isinstance(keyboard, InlineKeyboardMarkup) and keyboard.inline_keyboard:
        if not on_current:
            on_current = (Outgoing(kind="edit", payload={"message_id": message.message_id}),)
        on_stale = (Outgoing(kind="edit", payload={"message_id": message.message_id}),)
    return message.chat.id, Press(token=pressed.token, value=pressed.value, index=pressed.index,
                                  on_current=on_current, on_stale=on_stale)


def _membership(update: Update, channel: TelegramChannel) -> tuple[int, Inbound] | None:
    change = update.my_chat_member
    assert change is not None
    chat = change.chat
    if not _known(chat) or change.new_chat_member is None or change.old_chat_member is None:
        return None
    new, old = change.new_chat_member.status, change.old_chat_member.status
    if chat.type == Chat.PRIVATE:
        if new == ChatMember.BANNED:
            return chat.id, ReachabilityChange(blocked=True)
        if new == ChatMember.MEMBER and old == ChatMember.BANNED:
            return chat.id, ReachabilityChange(blocked=False)
        return None
    if new in _JOINED and old in _GONE:  # added to a group: say once that we only talk one to one
        return chat.id, Notice(tuple(channel.text(channel.messages.group_chat)))
    return None
