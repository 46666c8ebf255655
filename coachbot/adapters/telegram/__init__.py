"""The Telegram channel: python-telegram-bot wiring, inbound updates, keyboards, and the outbox sender."""

from __future__ import annotations

import importlib.util
import sys


def _remember_that_sniffio_is_missing() -> None:
    """httpcore runs `import sniffio` on every HTTP request; when sniffio is not installed, each failed
    import searches the whole sys.path again (stat calls that cost ~15% of the bot's CPU under load).
    Recording the miss once makes the failure instant; nothing changes when sniffio is installed."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_remember_that_sniffio_is_missing()
