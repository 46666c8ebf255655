"""Everything that is not a plain answer gets a polite, specific answer, or is ignored by design."""

from __future__ import annotations

from coachbot.adapters.db.models import Patient
from tests.support.coachbot_telegram import eventually, measurements, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi


async def test_photo_sticker_voice_get_specific_answers_and_record_nothing(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_photo()
        photo = await alex.wait_for_message()
        await alex.send_sticker("🙂")
        sticker = await alex.wait_for_message()
        await alex.send_voice()
        voice = await alex.wait_for_message()
        await settled(fake_bot_api, bot)
        assert await patient(bot, 42) is None  # nothing stored about someone who only sent media
    assert "cannot look at photos" in photo.text
    assert "sticker" in sticker.text
    assert "cannot listen to voice messages" in voice.text


async def test_photo_caption_is_read_like_typed_words(fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url):
        await alex.send_photo(caption="I want to die")
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
    assert "999" in resources.text


async def test_edited_message_is_explained_not_taken_as_an_answer(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        sent = await alex.send_text("Al")
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.edit_text(sent.message_id, "Alex")
        explained = await alex.wait_for_message()
        row = await patient(bot, 42)
    assert "I only read new messages" in explained.text
    assert row is not None and row.name == "Al"


async def test_edited_message_with_words_of_crisis_is_heard(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url):
        sent = await alex.send_text("hello")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.edit_text(sent.message_id, "I want to end it all")
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
    assert "999" in resources.text


async def test_group_chats_get_one_pointer_to_a_private_chat(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    sam = fake_bot_api.user(43, "Sam")
    group = fake_bot_api.group(-100500, "Back care circle")
    async with running_bot(fake_bot_api, database_url) as bot:
        await group.send_text_as(sam, "hi all")  # ordinary group chatter: ignored
        await group.send_command_as(sam, "start", mention_bot=True)
        pointer = await group.wait_for_message()
        await settled(fake_bot_api, bot)
        assert await patient(bot, -100500) is None and await patient(bot, 43) is None
    assert "private chat" in pointer.text
    assert group.texts() == [pointer.text]
    assert sam.messages() == []


async def test_unknown_command_shows_help_and_records_nothing(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await alex.send_command("/weather")
        sorry = await alex.wait_for_message()
        helped = await alex.wait_for_message()
        await alex.send_command("/settings")
        settings = await alex.wait_for_message()
        row = await patient(bot, 42)
        stored = await measurements(bot, 42)
    assert sorry.text == "Sorry, I do not know that command."
    assert "Here are the words you can type" in helped.text and "call you" in helped.text
    assert row is not None and row.name is None and stored == []
    assert "call you" in settings.text  # settings wait until onboarding is done: it carries on


async def test_blocking_marks_unreachable_and_writing_again_makes_reachable(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.block_bot()

        async def unreachable() -> Patient | None:
            row = await patient(bot, 42)
            return row if row is not None and row.unreachable else None

        before = await eventually(unreachable)
        await alex.unblock_bot()
        await alex.send_text("hello again")
        await alex.wait_for_message(lambda m: "Please tap Yes if you agree" in m.text)
        after = await patient(bot, 42)
    assert before is not None and before.unreachable
    assert after is not None and not after.unreachable

