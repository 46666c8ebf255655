"""The fake Telegram Bot API, exercised with the real python-telegram-bot (no mocks)."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.helpers import escape_markdown

from tests.support.fake_bot_api import (
    TINY_PNG,
    ApiError,
    FakeBotApi,
    RateLimitConfig,
    WaitTimeout,
    application_builder,
    make_bot,
    parse_text,
    running_polling,
    running_webhook,
)

KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="answer:yes"),
            InlineKeyboardButton("No", callback_data="answer:no"),
        ]
    ]
)


@pytest.fixture
async def bot(fake_bot_api: FakeBotApi) -> AsyncIterator[Bot]:
    async with make_bot(fake_bot_api) as b:
        yield b


def build_app(server: FakeBotApi) -> tuple[Application, list[Update]]:
    """Echo bot: /start offers a Yes/No keyboard; pressing a button answers and edits it away."""
    seen: list[Update] = []
    app = application_builder(server).build()

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_chat.send_message("Ready?", reply_markup=KEYBOARD)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("Noted")
        await query.edit_message_text(f"You said {query.data.split(':')[1]}")

    app.add_handler(MessageHandler(filters.ALL, record), group=-1)
    app.add_handler(CallbackQueryHandler(record), group=-1)
    app.add_handler(ChatMemberHandler(record, ChatMemberHandler.MY_CHAT_MEMBER), group=-1)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & ~filters.UpdateType.EDITED, echo))
    app.add_handler(CallbackQueryHandler(on_button, pattern=r"^answer:"))
    return app, seen


# ---------------------------------------------------------------------------- basics


async def test_get_me(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123, True, "coachbot_test_bot")
    assert fake_bot_api.count("getMe") == 2  # Bot.initialize() calls it too
    assert fake_bot_api.base_url.endswith("/bot") and fake_bot_api.base_file_url.endswith("/file/bot")


async def test_wrong_token_is_401_and_unknown_method_404(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake_bot_api.base_url) as other:
            await other.get_me()
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendMesage", api_kwargs={"chat_id": 1, "text": "typo"})
    assert fake_bot_api.calls[-1].status == 404
    with pytest.raises(InvalidToken, match="Not Found"):  # what PTB makes of a 404 from a regular method
        await bot.set_chat_menu_button()
    fake_bot_api.stub_method("setChatMenuButton")  # opt-in stubs for methods the fake lacks
    assert await bot.set_chat_menu_button() is True


async def test_params_as_json_form_query_and_multipart(fake_bot_api: FakeBotApi) -> None:
    """Telegram accepts any encoding; the fake normalises all of them to typed params."""
    user = fake_bot_api.user(7)
    url = f"{fake_bot_api.base_url}{fake_bot_api.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as http:
        r1 = await http.post(url, json={"chat_id": 7, "text": "json", "reply_markup": markup})
        r2 = await http.post(url, data={"chat_id": "7", "text": "form", "reply_markup": json.dumps(markup)})
        r3 = await http.get(url, params={"chat_id": "7", "text": "query"})
        form = aiohttp.FormData({"chat_id": "7", "text": "multipart"})
        form.add_field("attachment", b"ignored", filename="x.bin")  # forces multipart/form-data
        r4 = await http.post(url, data=form)
        bodies = [await r.json() for r in (r1, r2, r3, r4)]
    assert [b["ok"] for b in bodies] == [True] * 4
    assert user.texts() == ["json", "form", "query", "multipart"]
    assert [c.params["chat_id"] for c in fake_bot_api.calls] == [7, 7, 7, 7]
    assert user.messages()[1].buttons == [["A"]]


# ---------------------------------------------------------------------------- with an Application


async def test_text_reaches_app_and_reply_is_in_history(fake_bot_api: FakeBotApi) -> None:
    app, seen = build_app(fake_bot_api)
    alex = fake_bot_api.user(42, "Alex", username="alex")
    async with running_polling(app):
        sent = await alex.send_text("hello there")
        reply = await alex.wait_for_message()
    assert reply.text == "echo: hello there"
    assert reply.from_bot and reply.chat_id == 42 and reply.message_id > sent.message_id
    assert [m.from_bot for m in alex.history()] == [False, True]
    update = seen[0]
    assert update.update_id == sent.update_id
    assert update.effective_user.username == "alex" and update.effective_chat.type == "private"
    assert fake_bot_api.count("deleteWebhook") == 1  # PTB's polling bootstrap


async def test_inline_keyboard_round_trip(fake_bot_api: FakeBotApi) -> None:
    app, _ = build_app(fake_bot_api)
    alex = fake_bot_api.user(42)
    async with running_polling(app):
        await alex.send_command("/start")
        question = await alex.wait_for_message()
        assert question.text == "Ready?" and question.buttons == [["Yes", "No"]]

        query = await alex.click("No")
        assert query.data == "answer:no"
        answer = await query.wait_answered()
        assert answer["text"] == "Noted"
        await fake_bot_api.wait_until(lambda: question.versions, what="the edit")

    assert question.text == "You said no"
    assert question.buttons == []  # editMessageText without reply_markup drops the keyboard
    assert question.versions[0]["text"] == "Ready?"
    assert alex.messages() == [question]  # an edit, not a new message


async def test_pressing_an_unknown_old_message_still_delivers(fake_bot_api: FakeBotApi) -> None:
    app, seen = build_app(fake_bot_api)
    alex = fake_bot_api.user(42)
    async with running_polling(app):
        query = await alex.press(999, "legacy:button")
        await fake_bot_api.wait_delivered(query.update_id)
        await fake_bot_api.wait_until(lambda: seen, what="the callback query")
    assert seen[0].callback_query.data == "legacy:button"
    assert seen[0].callback_query.message.message_id == 999


async def test_media_edits_groups_and_blocking_reach_the_app(fake_bot_api: FakeBotApi) -> None:
    app, seen = build_app(fake_bot_api)
    alex = fake_bot_api.user(42)
    sam = fake_bot_api.user(43, "Sam")
    group = fake_bot_api.group(-100500, "Back care circle")
    async with running_polling(app):
        await alex.send_photo(caption="my desk")
        await alex.send_sticker("🙂")
        await alex.send_voice(duration=4)
        msg = await alex.send_text("typo")
        await alex.wait_for_message(lambda m: m.text == "echo: typo")
        await alex.edit_text(msg.message_id, "fixed")
        await group.send_text_as(sam, "hi group")
        echo = await group.wait_for_message()
        await alex.block_bot()
        await fake_bot_api.wait_until(lambda: len(seen) == 7, what="7 updates")

    photo, sticker, voice, text, edited, group_msg, member = seen
    assert photo.message.caption == "my desk" and photo.message.photo[-1].width == 1
    assert sticker.message.sticker.emoji == "🙂"
    assert voice.message.voice.mime_type == "audio/ogg"
    assert text.message.text == "typo"
    assert edited.edited_message.text == "fixed" and edited.edited_message.message_id == msg.message_id
    assert group_msg.effective_chat.type == "group" and group_msg.effective_user.first_name == "Sam"
    assert echo.text == "echo: hi group" and echo.chat_id == -100500
    assert member.my_chat_member.new_chat_member.status == "kicked"


async def test_group_commands_and_buttons(fake_bot_api: FakeBotApi) -> None:
    app, _ = build_app(fake_bot_api)
    sam = fake_bot_api.user(43, "Sam")
    group = fake_bot_api.group(-1001234567890, "Back care circle")
    async with running_polling(app):
        command = await group.send_command_as(sam, "start", mention_bot=True)
        assert command.text == "/start@coachbot_test_bot"
        question = await group.wait_for_message()
        assert question.text == "Ready?" and question.chat["type"] == "supergroup"
        await group.click_as(sam, "Yes")
        call = await fake_bot_api.wait_for_call("editMessageText")
        await group.assert_no_message(within=0.1)
    assert call.params == {
        "chat_id": -1001234567890,
        "message_id": question.message_id,
        "text": "You said yes",
    }
    assert group.texts() == ["You said yes"]
    assert sam.messages() == []  # nothing in Sam's private chat


async def test_redelivered_update_keeps_its_id_when_polling(fake_bot_api: FakeBotApi) -> None:
    app, seen = build_app(fake_bot_api)
    alex = fake_bot_api.user(42)
    async with running_polling(app):
        msg = await alex.send_text("once")
        await alex.wait_for_message()
        await fake_bot_api.redeliver(msg.update_id)
        await fake_bot_api.wait_until(lambda: len(seen) == 2, what="the redelivery")
    assert [u.update_id for u in seen] == [msg.update_id, msg.update_id]


# ---------------------------------------------------------------------------- errors


async def test_blocked_user_gives_forbidden(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    await bot.send_message(42, "before")
    await alex.block_bot()
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "while blocked")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(42, "typing")
    await alex.unblock_bot()
    await bot.send_message(42, "after")
    assert alex.texts() == ["before", "after"]
    assert [c.status for c in fake_bot_api.calls_to("sendMessage")] == [200, 403, 200]


async def test_unknown_chat_and_user_who_never_started(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(5, "hi")
    fake_bot_api.user(6, started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(6, "hi")


async def test_injected_429_raises_retry_after(bot: Bot, fake_bot_api: FakeBotApi, monkeypatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake_bot_api.user(42)
    fake_bot_api.inject_fault("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "flood")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(42, "fine again")  # times=1
    assert fake_bot_api.calls_to("sendMessage")[0].response["parameters"] == {"retry_after": 7}
    assert fake_bot_api.user(42).texts() == ["fine again"]


async def test_injected_502_is_a_network_error(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    fake_bot_api.user(42)
    fake_bot_api.user(43)
    fake_bot_api.inject_fault("sendMessage", status=502, times=2, chat_id=43)
    await bot.send_message(42, "other chat unaffected")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway") as caught:
            await bot.send_message(43, "proxy down")
        assert not isinstance(caught.value, BadRequest)
    await bot.send_message(43, "recovered")
    assert fake_bot_api.user(43).texts() == ["recovered"]
    assert fake_bot_api.faults == []


async def test_injected_403_and_400_with_custom_description(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    fake_bot_api.user(42)
    fake_bot_api.inject_fault("sendMessage", status=403, description="Forbidden: user is deactivated")
    fake_bot_api.inject_fault("*", status=409)
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(42, "x")
    with pytest.raises(Conflict):
        await bot.get_me()


async def test_slow_response_and_client_timeout(fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    fake_bot_api.inject_fault("sendMessage", delay=0.3)
    async with make_bot(fake_bot_api) as bot:
        await bot.send_message(42, "slow but fine")
        assert fake_bot_api.calls_to("sendMessage")[0].duration >= 0.3
        # The client gives up, yet the message is sent: a classic source of duplicates.
        fake_bot_api.inject_fault("sendMessage", delay=0.3)
        with pytest.raises(TimedOut):
            await bot.send_message(42, "lost reply", read_timeout=0.05)
    await alex.wait_for_message(lambda m: m.text == "lost reply", after=0)
    assert alex.texts() == ["slow but fine", "lost reply"]


async def test_validation_errors_match_telegram(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    fake_bot_api.user(42)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(42, "x" * 4097)
    await bot.send_message(42, "x" * 4096)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(42, "")
    with pytest.raises(BadRequest, match='Can\'t parse entities: unsupported start tag "br"'):
        await bot.send_message(42, "line<br>line", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"character '\.' is reserved"):
        await bot.send_message(42, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(
            42, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="d" * 65)]])
        )
    msg = await bot.send_message(42, "same", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("same", chat_id=42, message_id=msg.message_id, reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("new", chat_id=42, message_id=12345)
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(42, "re", reply_to_message_id=12345)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("nope")


# ---------------------------------------------------------------------------- other methods


async def test_edits_deletes_actions_and_replies(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    user_msg = await alex.send_text("question")
    sent = await bot.send_message(
        42,
        "<b>Hi</b> &amp; welcome",
        parse_mode="HTML",
        reply_markup=KEYBOARD,
        reply_to_message_id=user_msg.message_id,
    )
    assert sent.text == "Hi & welcome" and sent.entities[0].type == "bold"
    assert sent.reply_to_message.text == "question"
    edited = await bot.edit_message_reply_markup(42, sent.message_id, reply_markup=None)
    assert edited.reply_markup is None and edited.edit_date is not None
    await bot.send_chat_action(42, "typing")
    assert await bot.delete_message(42, sent.message_id)
    assert alex.messages() == [] and alex.messages(include_deleted=True)[0].deleted
    assert alex.chat_actions == ["typing"]
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(42, sent.message_id)


async def test_send_photo_multipart_bytes_arrive(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    sent = await bot.send_photo(
        42, photo=TINY_PNG, caption="<i>chart</i>", parse_mode="HTML", reply_markup=KEYBOARD
    )
    call = fake_bot_api.calls_to("sendPhoto")[0]
    assert call.files["photo"].data == TINY_PNG
    stored = alex.last_message()
    assert stored.photo == TINY_PNG and stored.caption == "chart" and stored.buttons == [["Yes", "No"]]
    assert sent.photo[-1].width == 1 and sent.caption_entities[0].type == "italic"
    # the file can be fetched back through getFile + base_file_url
    tg_file = await bot.get_file(sent.photo[-1].file_id)
    assert bytes(await tg_file.download_as_bytearray()) == TINY_PNG
    # resending by file_id reuses the bytes
    await bot.send_photo(42, photo=sent.photo[-1].file_id)
    assert alex.last_message().photo == TINY_PNG
    edited = await bot.edit_message_caption(42, sent.message_id, caption="new caption")
    assert edited.caption == "new caption"


async def test_commands_per_scope(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    await bot.set_my_commands([BotCommand("start", "Begin"), BotCommand("help", "Help")])
    await bot.set_my_commands(
        [BotCommand("pause", "Pause")], scope=BotCommandScopeChat(42), language_code="de"
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [
        c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(42), language_code="de")
    ] == ["pause"]
    assert await bot.get_my_commands(scope=BotCommandScopeChat(42)) == ()
    assert fake_bot_api.commands_for({"type": "chat", "chat_id": 42}, "de")[0]["command"] == "pause"
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.close() and await bot.log_out()
    assert fake_bot_api.closed and fake_bot_api.logged_out


async def test_get_updates_long_poll_offset_and_allowed_updates(bot: Bot, fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    loop = asyncio.get_running_loop()

    async def later() -> None:
        await asyncio.sleep(0.15)
        await alex.send_text("late")

    started = loop.time()
    task = asyncio.create_task(later())
    updates = await bot.get_updates(timeout=5)
    await task
    assert 0.1 < loop.time() - started < 2
    assert [u.message.text for u in updates] == ["late"]
    # not confirmed yet: returned again; confirmed by offset: gone
    assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1) == ()
    # an empty long poll returns after its timeout
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < loop.time() - started < 1.9
    # allowed_updates filters (and is remembered)
    await alex.send_text("text")
    await alex.press(999, "data")
    got = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in got] == ["data"]
    await bot.set_webhook("http://127.0.0.1:9/hook", drop_pending_updates=True)
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


# ---------------------------------------------------------------------------- webhooks


@pytest.fixture
async def webhook_receiver(unused_tcp_port: int) -> AsyncIterator[dict]:
    """A bare aiohttp endpoint standing in for a bot's webhook (no PTB, no tornado needed)."""
    state: dict = {"requests": [], "statuses": [], "url": f"http://127.0.0.1:{unused_tcp_port}/hook"}

    async def hook(request: web.Request) -> web.Response:
        headers = {k: request.headers.get(k) for k in ("X-Telegram-Bot-Api-Secret-Token", "Content-Type")}
        state["requests"].append((headers, await request.json()))
        return web.Response(status=state["statuses"].pop(0) if state["statuses"] else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield state
    await runner.cleanup()


async def test_webhook_delivery_retries_and_redelivery(
    bot: Bot, fake_bot_api: FakeBotApi, webhook_receiver: dict
) -> None:
    alex = fake_bot_api.user(42)
    await alex.send_text("queued while polling")
    webhook_receiver["statuses"] = [500, 502]  # first two attempts fail, third succeeds
    await bot.set_webhook(webhook_receiver["url"], secret_token="s3cret")
    assert fake_bot_api.mode == "webhook"
    msg = await alex.send_text("second")
    await fake_bot_api.wait_delivered(msg.update_id)
    requests = webhook_receiver["requests"]
    assert [body["message"]["text"] for _, body in requests] == ["queued while polling"] * 3 + ["second"]
    assert all(h["X-Telegram-Bot-Api-Secret-Token"] == "s3cret" for h, _ in requests)
    assert all(h["Content-Type"] == "application/json" for h, _ in requests)
    assert [d.status for d in fake_bot_api.webhook_deliveries] == [500, 502, 200, 200]

    await fake_bot_api.redeliver(msg.update_id)
    assert requests[-1][1] == requests[-2][1]  # same update_id, same payload

    info = await bot.get_webhook_info()
    assert info.url == webhook_receiver["url"] and info.pending_update_count == 0
    with pytest.raises(Conflict):
        await bot.get_updates()
    await bot.delete_webhook()
    assert fake_bot_api.mode == "polling"


async def test_webhook_gives_up_after_bounded_attempts(
    bot: Bot, fake_bot_api: FakeBotApi, webhook_receiver: dict
) -> None:
    fake_bot_api.webhook_max_attempts = 3
    webhook_receiver["statuses"] = [503] * 10
    await bot.set_webhook(webhook_receiver["url"])
    msg = await fake_bot_api.user(42).send_text("doomed")
    await fake_bot_api.wait_until(lambda: msg.update_id in fake_bot_api.dropped_update_ids)
    assert len(webhook_receiver["requests"]) == 3
    info = await bot.get_webhook_info()
    assert "503" in info.last_error_message


async def test_ptb_webhook_server_with_secret(fake_bot_api: FakeBotApi, unused_tcp_port: int) -> None:
    pytest.importorskip("tornado", reason="PTB's webhook server needs python-telegram-bot[webhooks]")
    app, seen = build_app(fake_bot_api)
    alex = fake_bot_api.user(42)
    async with running_webhook(app, port=unused_tcp_port, secret_token="right-secret"):
        assert fake_bot_api.mode == "webhook" and fake_bot_api.webhook_secret == "right-secret"
        await alex.send_text("via webhook")
        reply = await alex.wait_for_message()
        assert reply.text == "echo: via webhook"

        fake_bot_api.override_webhook_secret("wrong-secret")
        fake_bot_api.webhook_max_attempts = 2
        refused = await alex.send_text("forged")
        await fake_bot_api.wait_until(lambda: refused.update_id in fake_bot_api.dropped_update_ids)
        fake_bot_api.clear_webhook_secret_override()
        await alex.assert_no_message(within=0.2)
    assert [d.status for d in fake_bot_api.webhook_deliveries if d.update_id == refused.update_id] == [
        403,
        403,
    ]
    assert [u.message.text for u in seen] == ["via webhook"]


# ---------------------------------------------------------------------------- flood limits


@pytest.mark.fake_bot_api(rate_limit=True)
async def test_rate_limit_per_chat_and_global(bot: Bot, fake_bot_api: FakeBotApi, monkeypatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    for uid in range(1, 41):
        fake_bot_api.user(uid)
    for _ in range(3):  # 1/s plus a burst of 2
        await bot.send_message(1, "burst")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(1, "one too many")
    assert caught.value.retry_after >= dtm.timedelta(seconds=1)
    assert fake_bot_api.rate_limited == 1

    # 30 sends per second overall: 3 were made, so of 30 more to other chats the last 3 bounce
    limited = []
    for uid in range(2, 32):
        try:
            await bot.send_message(uid, "broadcast")
        except RetryAfter as exc:
            limited.append(uid)
            assert exc.retry_after == dtm.timedelta(seconds=1)
    assert limited == [29, 30, 31] and fake_bot_api.rate_limited == 4
    assert fake_bot_api.count("sendMessage", status=429) == 4


@pytest.mark.fake_bot_api(rate_limit=True, rate_limits=RateLimitConfig(group_per_minute=2, per_chat_burst=5))
async def test_rate_limit_in_groups(bot: Bot, fake_bot_api: FakeBotApi, monkeypatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake_bot_api.group(-1)
    await bot.send_message(-1, "a")
    await bot.send_message(-1, "b")
    with pytest.raises(RetryAfter):
        await bot.send_message(-1, "c")


# ---------------------------------------------------------------------------- helpers


async def test_wait_for_message_times_out_with_a_useful_message(fake_bot_api: FakeBotApi) -> None:
    alex = fake_bot_api.user(42)
    with pytest.raises(WaitTimeout, match="no new bot message"):
        await alex.wait_for_message(timeout=0.05)


@pytest.mark.parametrize(
    ("mode", "source", "text", "entities"),
    [
        ("HTML", "<b>bold <i>both</i></b> &lt;3", "bold both <3", [("bold", 0, 9), ("italic", 5, 4)]),
        ("HTML", '<a href="https://x.org">link</a>', "link", [("text_link", 0, 4)]),
        ("HTML", "😀 <u>x</u>", "😀 x", [("underline", 3, 1)]),  # offsets in UTF-16 units
        (
            "MarkdownV2",
            r"*bold* _it_ __u__ ~s~ ||sp|| `c` done\.",
            "bold it u s sp c done.",
            [
                ("bold", 0, 4),
                ("italic", 5, 2),
                ("underline", 8, 1),
                ("strikethrough", 10, 1),
                ("spoiler", 12, 2),
                ("code", 15, 1),
            ],
        ),
        ("MarkdownV2", "[site](https://x.org/a_(b\\))", "site", [("text_link", 0, 4)]),
        (
            "Markdown",
            "*b* _i_ [l](http://x)",
            "b i l",
            [("bold", 0, 1), ("italic", 2, 1), ("text_link", 4, 1)],
        ),
    ],
)
def test_parse_modes(mode: str, source: str, text: str, entities: list) -> None:
    got_text, got_entities = parse_text(source, mode)
    assert got_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in got_entities] == entities


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaped_text_round_trips(text: str) -> None:
    """What PTB's escape helpers produce is accepted and comes back as the original text."""
    assert parse_text(escape_markdown(text, version=2), "MarkdownV2") == (text, [])
    assert parse_text(html.escape(text), "HTML") == (text, [])


@pytest.mark.parametrize(
    ("mode", "source"),
    [
        ("HTML", "<b>open"),
        ("HTML", "<b><i>x</b></i>"),
        ("HTML", "a < b"),
        ("MarkdownV2", "*open"),
        ("MarkdownV2", "1-2"),
        ("Markdown", "_x"),
    ],
)
def test_parse_mode_errors(mode: str, source: str) -> None:
    with pytest.raises(ApiError, match="can't parse entities"):
        parse_text(source, mode)
