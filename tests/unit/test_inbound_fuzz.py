"""Hostile Telegram updates: whatever PTB can parse, `classify` answers as designed and never raises.

The bot faces the open internet. An update may lack fields, carry kinds this bot never asked for
(channel posts, reactions, kinds Telegram has not invented yet), come from a group or a channel, hold
a huge text, or be written in odd Unicode (zero-width and right-to-left characters, combining marks).
None of that may crash the bot, and a private text message must always reach the crisis screen.
The updates are JSON dicts, as Telegram sends them, parsed by PTB's public `Update.de_json`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from coachbot.adapters.telegram.inbound import CHANNEL_COMMANDS, classify
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand, EditedText, EscalationPress, Notice, Press
from coachbot.care.triggers import FAILSAFE_RULE
from coachbot.engine import TextMessage
from coachbot.spec.library import DialogLibrary

Json = dict[str, Any]

BOT = Bot("123456:OFFLINE-TOKEN")
"""Built offline: `de_json` only attaches it to the parsed objects; nothing here calls Telegram."""

FORMAT_CHARS = ("\u200b\u200c\u200d\u2060\ufeff\u00ad"
                "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Zero-width, soft hyphen and bidirectional controls: invisible, and a classic way to dodge a filter."""
ODD = (FORMAT_CHARS + "\u0301\u0338\u20dd" + "مرحبا שלום 死 😀👩\u200d👩\u200d👧 ﷽ "
       + "\U0001d55c\U0001d55a\U0001d55d\U0001d55d \uff2b\uff29\uff2c\uff2c \u0130\u0131 \u00df"
       + "\t\n\r\x00\x7f")
"""Arabic and Hebrew (right to left), CJK, emoji joined by zero-width joiners, "kill" in double-struck
and full-width letters, Turkish dotted and dotless i, control characters."""

odd_text = st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=60)
huge_text = st.builds(lambda chunk, times: chunk * times, odd_text.filter(bool),
                      st.integers(min_value=100, max_value=2_000))
any_text = st.one_of(odd_text, huge_text, st.sampled_from(["", " ", "/", "/start", "/checkin@coachbot x",
                                                            "/MYDATA", "//", "/ settings"]))
ids = st.integers(min_value=-(2**52), max_value=2**52)
chat_types = st.sampled_from(["private"] * 5 + ["group", "supergroup", "channel", "sender", "", "PRIVATE",
                                                 "weird"])
statuses = st.sampled_from(["member", "administrator", "creator", "left", "kicked", "restricted", "odd"])


def users(bot: bool | None = None) -> st.SearchStrategy[Json]:
    return st.fixed_dictionaries(
        {"id": ids, "is_bot": st.just(bot) if bot is not None else st.booleans(), "first_name": odd_text},
        optional={"username": odd_text, "language_code": st.sampled_from(["en", "ar", "he", "xx", ""])})


def chats(kind: st.SearchStrategy[str] = chat_types) -> st.SearchStrategy[Json]:
    return st.fixed_dictionaries({"id": ids, "type": kind},
                                 optional={"title": odd_text, "first_name": odd_text, "username": odd_text})


def messages(chat: st.SearchStrategy[Json],
             sender: st.SearchStrategy[Json] | None) -> st.SearchStrategy[Json]:
    """A message with text, a caption, media or nothing at all, and now and then fields PTB ignores."""
    body = st.one_of(
        st.fixed_dictionaries({"text": any_text}),
        st.fixed_dictionaries({"caption": any_text, "photo": st.just(
            [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}])}),
        st.just({"sticker": {"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1,
                             "is_animated": False, "is_video": False, "type": "regular"}}),
        st.just({"voice": {"file_id": "f", "file_unique_id": "u", "duration": 1}}),
        st.just({"location": {"latitude": 0.0, "longitude": 0.0}}),
        st.just({}),
        st.fixed_dictionaries({"brand_new_field": odd_text}),
    )
    head = {"message_id": st.integers(min_value=1, max_value=2**31), "date": st.integers(0, 2**31),
            "chat": chat}
    if sender is not None:
        head["from"] = sender
    return st.builds(lambda h, b: {**h, **b}, st.fixed_dictionaries(head), body)


def callback_queries(message: st.SearchStrategy[Json] | None) -> st.SearchStrategy[Json]:
    junk = st.one_of(odd_text, st.sampled_from(["esc:ack:7", "esc:resolve:x", "esc:nope:1", "q1:", ":3",
                                                 "q1#2", "q1#x", "#", "::", "tok:5"]))
    required = {"id": odd_text, "from": users(), "chat_instance": odd_text}
    if message is not None:
        required["message"] = message
    return st.fixed_dictionaries(required, optional={"data": junk, "game_short_name": odd_text})


def member_updates() -> st.SearchStrategy[Json]:
    def member(status: str, user: Json) -> Json:
        extra = {"until_date": 0} if status == "kicked" else {}
        if status == "restricted":
            extra = {"is_member": True, "until_date": 0, **dict.fromkeys(
                ["can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
                 "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
                 "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
                 "can_invite_users", "can_pin_messages", "can_manage_topics"], False)}
        return {"status": status, "user": user, **extra}

    return st.builds(lambda chat, user, old, new, date: {
        "chat": chat, "from": user, "date": date, "old_chat_member": member(old, user),
        "new_chat_member": member(new, user)}, chats(), users(), statuses, statuses, st.integers(0, 2**31))


private = chats(st.just("private"))
not_private = chats(st.sampled_from(["group", "supergroup", "channel"]))
any_message = messages(chats(), users())


def updates() -> st.SearchStrategy[Json]:
    """Any mix of update kinds, known or not, each possibly with fields dropped."""
    kinds = {
        "message": any_message, "edited_message": any_message, "channel_post": messages(chats(), None),
        "edited_channel_post": messages(chats(), None), "callback_query": callback_queries(any_message),
        "my_chat_member": member_updates(), "message_reaction": st.just({"chat": {"id": 1, "type": "x"}}),
        "a_kind_from_the_future": st.dictionaries(odd_text, odd_text, max_size=3),
    }
    chosen = st.dictionaries(st.sampled_from(sorted(kinds)), st.just(None), min_size=1, max_size=3)

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        data: Json = {"update_id": draw(ids)}
        for kind in draw(chosen):
            data[kind] = draw(hollowed(draw(kinds[kind])))
        return draw(hollowed(data)) if draw(st.booleans()) else data

    return build()


def hollowed(data: Json) -> st.SearchStrategy[Json]:
    """The dict with some of its keys (and its sub-dicts' keys) dropped or set to null."""
    @st.composite
    def drop(draw: st.DrawFn) -> Json:
        out: Json = {}
        for key, value in data.items():
            fate = draw(st.sampled_from(["keep"] * 8 + ["drop", "null"]))
            if fate == "drop":
                continue
            out[key] = None if fate == "null" else (
                draw(hollowed(value)) if isinstance(value, dict) else value)
        return out
    return drop()


def parse(data: Json) -> Update | None:
    """The update as PTB parses it, or None when PTB refuses it (then it never reaches classify)."""
    try:
        return Update.de_json(data, BOT)
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError, OSError):
        return None


def update_of(kind: str, body: Json) -> Update:
    parsed = Update.de_json({"update_id": 1, kind: body}, BOT)
    assert parsed is not None
    return parsed


@pytest.fixture(scope="module")
def channel(library: DialogLibrary) -> TelegramChannel:
    return TelegramChannel(library.service.channel, library.escalation)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(FUZZ, max_examples=300)
@given(data=updates())
def test_no_parseable_update_makes_classify_raise(data: Json, channel: TelegramChannel) -> None:
    update = parse(data)
    event("parsed" if update is not None else "refused by PTB")
    if update is None:
        return
    result = classify(update, channel)
    event(f"classified as {type(result[1]).__name__ if result else None}")
    assert result is None or (isinstance(result[0], int) and result[1] is not None)


@FUZZ
@given(body=messages(private, users(bot=False)))
def test_a_private_text_reaches_the_crisis_screen_whatever_its_characters(
        body: Json, channel: TelegramChannel, library: DialogLibrary) -> None:
    result = classify(update_of("message", body), channel)
    assert result is not None and result[0] == body["chat"]["id"]
    event = result[1]
    if "text" in body:
        expected = body["text"].strip()
        assert isinstance(event, TextMessage | ChannelCommand)
        if isinstance(event, ChannelCommand):
            assert event.name in CHANNEL_COMMANDS
        assert event.text == expected
        detection = library.triggers.detect(event.text)
        assert detection is None or detection.rule != FAILSAFE_RULE, "the detector failed on this text"
    elif body.get("caption", "").strip():
        assert event == TextMessage(body["caption"].strip())
    else:
        assert isinstance(event, Notice) and event.rows, "media or nothing gets its polite fixed answer"


@FUZZ
@given(noise=st.lists(st.sampled_from(FORMAT_CHARS), min_size=1, max_size=12), where=st.randoms(),
       phrase=st.sampled_from(["I want to kill myself", "i want to end my life",
                               "I am going to kill myself"]))
def test_a_crisis_statement_strewn_with_invisible_characters_is_still_a_crisis(
        noise: list[str], where: Any, phrase: str, channel: TelegramChannel, library: DialogLibrary) -> None:
    text = list(phrase)
    for char in noise:
        text.insert(where.randint(1, len(text) - 1), char)
    result = classify(update_of("message", {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                            "from": {"id": 5, "is_bot": False, "first_name": "P"},
                                            "text": "".join(text)}), channel)
    assert result is not None and isinstance(result[1], TextMessage)
    detection = library.triggers.detect(result[1].text)
    assert detection is not None and detection.kind == "crisis"


@FUZZ
@given(body=messages(not_private, users(bot=False)))
def test_a_group_or_channel_message_gets_only_the_talk_privately_note_for_a_command(
        body: Json, channel: TelegramChannel) -> None:
    result = classify(update_of("message", body), channel)
    if str(body.get("text", "")).startswith("/"):
        assert result == (body["chat"]["id"], Notice(tuple(channel.text(channel.messages.group_chat))))
    else:
        assert result is None, "a group's chatter is never read as a patient's words"


@FUZZ
@given(body=messages(chats(), users(bot=True)))
def test_a_message_from_another_bot_is_ignored(body: Json, channel: TelegramChannel) -> None:
    assert classify(update_of("message", body), channel) is None


@FUZZ
@given(kind=st.sampled_from(["channel_post", "edited_channel_post"]), body=messages(chats(), None))
def test_channel_posts_are_ignored(kind: str, body: Json, channel: TelegramChannel) -> None:
    assert classify(update_of(kind, body), channel) is None


@FUZZ
@given(body=messages(chats(), users()))
def test_an_edit_in_a_private_chat_gets_the_edit_notice_and_elsewhere_nothing(
        body: Json, channel: TelegramChannel) -> None:
    result = classify(update_of("edited_message", body), channel)
    if body["chat"]["type"] == "private":
        assert result is not None and result[0] == body["chat"]["id"]
        assert isinstance(result[1], EditedText)
        assert result[1].text == (body.get("text") or body.get("caption") or "")
        assert result[1].notice == tuple(channel.text(channel.messages.edited_message))
    else:
        assert result is None


@FUZZ
@given(query=callback_queries(messages(chats(), users(bot=True))))
def test_a_button_press_with_junk_data_gets_a_plain_acknowledgement(
        query: Json, channel: TelegramChannel) -> None:
    result = classify(update_of("callback_query", query), channel)
    chat = query["message"]["chat"]
    assert result is not None and result[0] == chat["id"]
    data = query.get("data")
    if isinstance(data, str) and re.fullmatch(r"esc:(ack|resolve|message):[0-9]+", data, re.ASCII):
        assert isinstance(result[1], EscalationPress)
    elif chat["type"] != "private":
        assert result[1] == Notice(), "a press in a group only stops the button's spinner"
    else:
        assert isinstance(result[1], Notice | Press)


@FUZZ
@given(query=callback_queries(None))
def test_a_press_whose_message_is_gone_needs_nothing(query: Json, channel: TelegramChannel) -> None:
    assert classify(update_of("callback_query", query), channel) is None


PRIVATE_CHAT = {"id": 1, "type": "private"}
UNASKED = {
    "message_reaction": {"chat": PRIVATE_CHAT, "message_id": 2, "date": 0, "old_reaction": [],
                         "new_reaction": [{"type": "emoji", "emoji": "\U0001F44D"}]},
    "business_message": {"message_id": 2, "date": 0, "chat": PRIVATE_CHAT, "text": "I want to die",
                         "from": {"id": 1, "is_bot": False, "first_name": "P"}},
    "a_kind_from_the_future": {"chat": PRIVATE_CHAT, "text": "hello"},
}


@pytest.mark.parametrize("kind", sorted(UNASKED))
def test_an_update_of_a_kind_never_asked_for_needs_nothing(kind: str, channel: TelegramChannel) -> None:
    update = parse({"update_id": 3, kind: UNASKED[kind]})
    assert update is not None, "PTB parses this kind (an unknown one lands in api_kwargs)"
    assert classify(update, channel) is None
