"""What the Telegram channel sends, decided without a network: merging, splitting, keyboards, presses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coachbot.adapters.telegram.keyboards import (
    MAX_CALLBACK_BYTES,
    button_key,
    callback_data,
    layout,
    parse_callback,
    sign,
    signed,
    verify,
)
from coachbot.adapters.telegram.messages_out import MAX_TEXT, merge, split, utf16_len
from coachbot.adapters.telegram.pacing import Bucket
from coachbot.app.channel import question_token
from coachbot.engine import ButtonOption, Reply

YES_NO = (ButtonOption("1", "Yes"), ButtonOption("0", "No"))
SCALE = tuple(ButtonOption(str(n), str(n)) for n in range(11))


def test_replies_in_a_row_merge_until_the_one_with_buttons() -> None:
    replies = [Reply("Hello."), Reply("About us."), Reply("Agree?", YES_NO, "consent"), Reply("Type skip.")]
    assert merge(replies) == [("Hello.\n\nAbout us.\n\nAgree?", YES_NO), ("Type skip.", ())]


def test_two_questions_in_one_event_stay_two_messages() -> None:
    replies = [Reply("Pain?", SCALE, "pain"), Reply("Mood?", SCALE, "mood")]
    assert [text for text, _ in merge(replies)] == ["Pain?", "Mood?"]


def test_long_text_is_split_on_line_boundaries() -> None:
    lines = [f"line {n}: " + "x" * 90 for n in range(100)]
    parts = split("\n".join(lines))
    assert len(parts) == 3 and all(utf16_len(p) <= MAX_TEXT for p in parts)
    assert "\n".join(parts) == "\n".join(lines)  # nothing lost, every cut at a line end
    assert all(p.split("\n")[0].startswith("line ") for p in parts)


@given(st.text(alphabet=st.sampled_from(["a", " ", "\n", "😀", "é"]), min_size=0, max_size=12000))
def test_split_parts_always_fit_and_keep_every_word(text: str) -> None:
    parts = split(text, limit=500)
    assert all(utf16_len(part) <= 500 for part in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_scale_is_two_rows_and_yes_no_one() -> None:
    token = question_token("daily_checkin", "pain_now")
    rows = layout(SCALE, token)
    assert [[label for label, _ in row] for row in rows] == [["0", "1", "2", "3", "4", "5"],
                                                              ["6", "7", "8", "9", "10"]]
    assert [[label for label, _ in row] for row in layout(YES_NO, token)] == [["Yes", "No"]]
    long_choices = (ButtonOption("0", "Not at all"), ButtonOption("2", "More than half the days"))
    assert len(layout(long_choices, token)) == 2  # long labels get a row each


def test_callback_data_fits_64_bytes_and_round_trips() -> None:
    token = question_token("a" * 64, "b" * 128)
    assert len(token) == 8
    data = callback_data(token, ButtonOption("not_helped", "It did not help"), 1)
    assert parse_callback(data) is not None and parse_callback(data).value == "not_helped"  # type: ignore[union-attr]
    huge = callback_data(token, ButtonOption("v" * 80, "A long one"), 3)
    assert len(huge.encode()) <= 64
    pressed = parse_callback(huge)
    assert pressed is not None and (pressed.token, pressed.index) == (token, 3)
    assert parse_callback("nonsense") is None and parse_callback(None) is None


@given(value=st.text(min_size=1, max_size=80), chat_id=st.integers(-(10**13), 10**13))
def test_signed_callback_data_fits_64_bytes_and_verifies_only_in_its_own_chat(
        value: str, chat_id: int) -> None:
    key = button_key("123:ABC")
    token = question_token("checkin", "pain")
    data = sign(key, chat_id, callback_data(token, ButtonOption(value, "x"), 0))
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    unsigned = verify(key, chat_id, data)
    assert unsigned is not None and parse_callback(unsigned) is not None
    assert verify(key, chat_id + 1, data) is None  # copied to another chat
    assert verify(button_key("456:DEF"), chat_id, data) is None  # another bot's key
    assert verify(None, chat_id, data) is None


def test_tampered_or_unsigned_callback_data_does_not_verify() -> None:
    key = button_key("123:ABC")
    data = sign(key, 7, "AbCdEfGh:1")
    assert verify(key, 7, data[:-1] + "0") is None  # the value changed under the signature
    assert verify(key, 7, "AbCdEfGh:1") is None and verify(key, 7, "") is None
    assert verify(key, 7, None) is None


def test_signing_a_keyboard_leaves_the_alert_card_buttons_alone() -> None:
    key = button_key("123:ABC")
    rows = [[["Yes", "AbCdEfGh:1"], ["Ack", "esc:ack:5"]]]
    out = signed(rows, key, 7, leave=lambda data: data.startswith("esc:"))
    assert out[0][1] == ["Ack", "esc:ack:5"]
    assert verify(key, 7, out[0][0][1]) == "AbCdEfGh:1"


def test_question_tokens_differ_per_question() -> None:
    tokens = {question_token(s, q) for s in ("onboarding", "daily_checkin") for q in ("consent", "pain_now")}
    assert len(tokens) == 4


def test_bucket_allows_a_burst_then_paces() -> None:
    bucket = Bucket(rate=1.0, burst=2)
    assert [bucket.book(100.0) for _ in range(4)] == [0.0, 0.0, 1.0, 2.0]
    assert bucket.book(103.5) == 0.0  # the earlier sends are past: no wait
