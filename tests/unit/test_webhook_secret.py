"""The webhook secret is the only thing standing between the internet and the update handler: a short
one is refused at start with one sentence, never echoed."""

from __future__ import annotations

import pytest

from coachbot.config import ConfigError, load_settings


def test_a_webhook_secret_shorter_than_16_characters_is_refused_in_one_sentence() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(webhook_secret="short-Secret_15")
    message = str(refused.value)
    assert message.startswith("COACHBOT_WEBHOOK_SECRET: expected 16 to 256 characters")
    assert "\n" not in message and "short-Secret_15" not in message and "Traceback" not in message


def test_a_webhook_secret_of_16_allowed_characters_is_accepted() -> None:
    settings = load_settings(webhook_secret="abcdefghij_-0123")
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "abcdefghij_-0123"
