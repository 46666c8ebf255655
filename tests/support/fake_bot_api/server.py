"""The fake Telegram Bot API server: HTTP plumbing, update queue, webhook delivery, faults, limits."""

# The wait helpers take a `timeout` on purpose: it reads best in tests.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from .actors import FakeGroup, FakeUser
from .methods import BotApiMethods
from .models import (
    ApiError,
    CallbackQueryRecord,
    CallRecord,
    FakeChat,
    FakeMessage,
    Fault,
    PendingUpdate,
    RateLimitConfig,
    StoredFile,
    UploadedFile,
    WaitTimeout,
    WebhookDelivery,
)
from .params import normalize, read_request

log = logging.getLogger("tests.fake_bot_api")
T = TypeVar("T")

# Update kinds Telegram leaves out unless asked for them explicitly in allowed_updates.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
}
_PROXY_ERRORS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
_UNSET: Any = object()

Handler = Callable[[dict[str, Any], dict[str, UploadedFile]], Any]


class FakeBotApi(BotApiMethods):
    """An in-process Telegram Bot API (aiohttp) for driving a real python-telegram-bot app.

    ``await start()`` binds 127.0.0.1 on a free port; point PTB at ``base_url``/``base_file_url``.
    """

    def __init__(  # noqa: PLR0915 - it is just a list of attributes
        self,
        token: str = "123:TEST",
        *,
        rate_limit: bool = False,
        rate_limits: RateLimitConfig | None = None,
        bot_username: str = "coachbot_test_bot",
        bot_first_name: str = "CoachBot",
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.host = host
        self.port: int | None = None
        # flood limits
        self.rate_limit = rate_limit
        self.rate_limits = rate_limits or RateLimitConfig()
        self.rate_limited = 0  # number of requests refused with 429 by the limiter
        self._sends_global: deque[float] = deque()
        self._sends_chat: defaultdict[int, deque[float]] = defaultdict(deque)
        self._sends_group: defaultdict[int, deque[float]] = defaultdict(deque)
        # records
        self.calls: list[CallRecord] = []
        self.errors: list[str] = []  # internal errors of the fake itself (tracebacks)
        self.chats: dict[int, FakeChat] = {}
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        self.updates: dict[int, dict[str, Any]] = {}  # every update ever created, by update_id
        self.delivered_update_ids: set[int] = set()
        self.dropped_update_ids: list[int] = []  # webhook gave up / drop_pending_updates
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (scope json, lang) -> commands
        self.descriptions: dict[tuple[str, str], str] = {}
        self.closed = False
        self.logged_out = False
        # delivery
        self.mode = "polling"
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.webhook_max_connections = 40
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_max_attempts = 5
        self.webhook_retry_delay = 0.05  # doubled after every failed attempt
        self.webhook_timeout = 5.0
        self.webhook_last_error: tuple[int, str] | None = None
        self._secret_override: Any = _UNSET
        self._pending: list[PendingUpdate] = []
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._faults: list[Fault] = []
        self._extra_methods: dict[str, tuple[str, Handler]] = {}
        self._next_update_id = 10001
        self._next_callback_id = 1
        self._next_file_id = 1
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._methods: dict[str, str] = {
            name[4:].lower(): name[4:] for name in dir(type(self)) if name.startswith("api_")
        }

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeBotApi:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port or 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self._closing = False
        if self.mode == "webhook":
            self._ensure_webhook_worker()
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For PTB's ``base_url``: requests go to ``{base_url}{token}/{method}``."""
        return f"http://{self.host}:{self._port()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self._port()}/file/bot"

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self.port

    # ------------------------------------------------------------------ change notification / waiting
    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_changed(self, timeout: float | None) -> None:
        event = self._changed
        if timeout is not None and timeout <= 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def wait_until(
        self, predicate: Callable[[], T], timeout: float = 15.0, *, what: str | None = None
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every server event); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {what or predicate!r}")
            # also poll a few times a second, in case the predicate depends on something else
            await self._wait_changed(min(remaining, 0.25))

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[CallRecord], bool] | None = None,
        *,
        timeout: float = 15.0,
        after: int = 0,
        completed: bool = True,
    ) -> CallRecord:
        """First call to ``method`` (index >= ``after`` in ``calls``) matching ``predicate``."""

        def find() -> CallRecord | None:
            for call in self.calls[after:]:
                same = call.method.lower() == method.lower()
                if (
                    same
                    and (not completed or call.status is not None)
                    and (predicate is None or predicate(call))
                ):
                    return call
            return None

        return await self.wait_until(find, timeout, what=f"a call to {method}")

    async def wait_delivered(self, update_id: int, timeout: float = 15.0) -> None:
        """Wait until the update was returned by getUpdates or accepted by the webhook."""
        await self.wait_until(
            lambda: update_id in self.delivered_update_ids, timeout, what=f"update {update_id}"
        )

    # ------------------------------------------------------------------ users, chats, history
    def user(
        self,
        user_id: int,
        first_name: str = "Alex",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> FakeUser:
        """The user with this id (created on first call); their private chat has id ``user_id``."""
        if user_id in self.users:
            return self.users[user_id]
        if user_id <= 0:
            raise ValueError("user ids are positive")
        chat = FakeChat(user_id, "private", first_name=first_name, last_name=last_name, username=username)
        chat.started = started
        self.chats[user_id] = chat
        user = FakeUser(
            self, user_id, first_name, username=username, last_name=last_name, language_code=language_code
        )
        self.users[user_id] = user
        return user

    def group(self, chat_id: int, title: str = "Test group", *, supergroup: bool | None = None) -> FakeGroup:
        """A group chat (ids are negative; <= -10**12 means a supergroup unless told otherwise)."""
        if chat_id in self.groups:
            return self.groups[chat_id]
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if supergroup is None:
            supergroup = chat_id <= -1_000_000_000_000
        self.chats[chat_id] = FakeChat(chat_id, "supergroup" if supergroup else "group", title=title)
        group = FakeGroup(self, chat_id, title)
        self.groups[chat_id] = group
        return group

    def chat(self, chat_id: int) -> FakeChat:
        return self.chats[chat_id]

    def history(self, chat_id: int) -> list[FakeMessage]:
        """Every message of the chat in order: the bot's and the users', deleted ones included."""
        return list(self.chats[chat_id].messages) if chat_id in self.chats else []

    def bot_messages(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Messages the bot sent (current state after edits), in one chat or in all chats."""
        chats = [self.chats[chat_id]] if chat_id is not None and chat_id in self.chats else []
        if chat_id is None:
            chats = list(self.chats.values())
        msgs = [m for c in chats for m in c.messages if m.from_bot and (include_deleted or not m.deleted)]
        return sorted(msgs, key=lambda m: m.sent_at) if chat_id is None else msgs

    def count(self, method: str, *, status: int | None = None) -> int:
        """Number of calls to ``method`` (case-insensitive), optionally only those answered ``status``."""
        return len(self.calls_to(method, status=status))

    def calls_to(self, method: str, *, status: int | None = None) -> list[CallRecord]:
        return [
            c
            for c in self.calls
            if c.method.lower() == method.lower() and (status is None or c.status == status)
        ]

    # ------------------------------------------------------------------ updates
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is assigned if missing); returns its update_id."""
        update = dict(update)
        update_id = update.pop("update_id", None) or self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        payload = {"update_id": update_id, **update}
        self.updates[update_id] = payload
        self._pending.append(PendingUpdate(update_id, payload))
        self._notify()
        return update_id

    async def redeliver(self, update_id: int, *, wait: bool = True, timeout: float = 15.0) -> None:
        """Send an already delivered update again (same update_id), like Telegram does after a
        webhook timeout. With ``wait`` returns once it was handed to the bot (getUpdates/webhook)."""
        if update_id not in self.updates:
            raise KeyError(f"unknown update {update_id}")
        entry = PendingUpdate(update_id, self.updates[update_id], redelivery=True)
        self._pending.append(entry)
        self._notify()
        if wait:
            await self.wait_until(entry.done.is_set, timeout, what=f"redelivery of update {update_id}")

    @property
    def unconfirmed_update_ids(self) -> list[int]:
        """Updates handed out by getUpdates and not yet confirmed by a later offset: Telegram would
        deliver these again to a bot that restarted now."""
        return [p.update_id for p in self._pending if p.handed_out]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return [p.payload for p in self._pending if not p.handed_out]

    def _allowed(self, kind: str, allowed: list[str] | None) -> bool:
        return kind in allowed if allowed else kind not in DEFAULT_EXCLUDED_UPDATES

    def _drop_pending(self) -> None:
        self.dropped_update_ids.extend(p.update_id for p in self._pending)
        for p in self._pending:
            p.done.set()
        self._pending.clear()

    def _handed_out(self, entry: PendingUpdate) -> None:
        entry.handed_out = True
        entry.done.set()
        self.delivered_update_ids.add(entry.update_id)

    # ------------------------------------------------------------------ webhook mode
    async def set_mode_webhook(
        self,
        url: str,
        *,
        secret_token: str | None = None,
        allowed_updates: list[str] | None = None,
        drop_pending_updates: bool = False,
        max_connections: int = 40,
    ) -> None:
        """Switch to webhook delivery (what setWebhook does): updates are POSTed to ``url``."""
        if drop_pending_updates:
            self._drop_pending()
        self.mode = "webhook"
        self.webhook_url = url
        self.webhook_secret = secret_token
        self.webhook_allowed_updates = allowed_updates or None
        self.webhook_max_connections = max_connections
        self.webhook_last_error = None
        self._poll_generation += 1  # a waiting getUpdates now ends with 409 Conflict
        if self._session is not None:
            self._ensure_webhook_worker()
        self._notify()

    async def set_mode_polling(self, *, drop_pending_updates: bool = False) -> None:
        """Back to getUpdates (what deleteWebhook does); undelivered updates stay queued."""
        if drop_pending_updates:
            self._drop_pending()
        self.mode = "polling"
        self.webhook_url = None
        self.webhook_secret = None
        self.webhook_allowed_updates = None
        self._notify()

    def override_webhook_secret(self, secret: str | None) -> None:
        """Send ``secret`` in X-Telegram-Bot-Api-Secret-Token instead of the bot's (None: no header)."""
        self._secret_override = secret

    def clear_webhook_secret_override(self) -> None:
        self._secret_override = _UNSET

    def _ensure_webhook_worker(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_loop(), name="fake-bot-api-webhook")

    async def _webhook_loop(self) -> None:
        while not self._closing and self.mode == "webhook":
            event = self._changed
            entry = self._pending[0] if self._pending else None
            if entry is None:
                await event.wait()
                continue
            if not self._allowed(entry.kind, self.webhook_allowed_updates):
                self._pending.remove(entry)
                self.dropped_update_ids.append(entry.update_id)
                entry.done.set()
                continue
            outcome = await self._deliver(entry)
            if outcome == "aborted":
                continue
            if entry in self._pending:
                self._pending.remove(entry)
            if outcome == "ok":
                self._handed_out(entry)
            else:
                self.dropped_update_ids.append(entry.update_id)
                entry.done.set()
            self._notify()

    async def _deliver(self, entry: PendingUpdate) -> str:
        assert self._session is not None
        body = json.dumps(entry.payload).encode()
        for attempt in range(1, self.webhook_max_attempts + 1):
            if self._closing or self.mode != "webhook" or self.webhook_url is None:
                return "aborted"
            url = self.webhook_url
            secret = self.webhook_secret if self._secret_override is _UNSET else self._secret_override
            headers = {"Content-Type": "application/json"}
            if secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            status: int | None = None
            error: str | None = None
            try:
                timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
                async with self._session.post(url, data=body, headers=headers, timeout=timeout) as resp:
                    status = resp.status
                    reason = resp.reason
                    await resp.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.webhook_deliveries.append(
                WebhookDelivery(entry.update_id, attempt, url, secret, status, error, time.time())
            )
            self._notify()
            if status is not None and 200 <= status < 300:
                return "ok"
            detail = (
                f"Wrong response from the webhook: {status} {reason}"
                if status
                else f"Connection failed: {error}"
            )
            self.webhook_last_error = (int(time.time()), detail)
            if attempt < self.webhook_max_attempts:
                await asyncio.sleep(self.webhook_retry_delay * 2 ** (attempt - 1))
        return "failed"

    # ------------------------------------------------------------------ fault injection
    def inject_fault(
        self,
        method: str,
        *,
        status: int = 200,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float = 0.0,
        chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` ("*" = any; optionally only for ``chat_id``)
        wait ``delay`` seconds and then fail with ``status``. A 2xx status only delays: the call
        then succeeds normally (and takes effect even if the client gave up waiting). 429 answers
        carry ``parameters.retry_after`` (default 1); 502/503/504 answer an HTML proxy page."""
        fault = Fault(method.lower(), status, times, retry_after, description, delay, chat_id)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return [f for f in self._faults if f.times > 0]

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, params):
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status in _PROXY_ERRORS and fault.description is None:
            phrase = f"{fault.status} {_PROXY_ERRORS[fault.status]}"
            html = (
                f"<html>\r\n<head><title>{phrase}</title></head>\r\n<body>\r\n<center><h1>{phrase}</h1></center>"
                "\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
            )
            return web.Response(status=fault.status, text=html, content_type="text/html")
        parameters = None
        description = fault.description
        if fault.status == 429 or fault.retry_after is not None:
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _FAULT_DESCRIPTIONS.get(fault.status, f"Error {fault.status}")
        error = ApiError(fault.status, description, parameters)
        return web.json_response(error.payload(), status=fault.status)

    # ------------------------------------------------------------------ flood limits
    def _check_rate_limit(self, params: dict[str, Any]) -> None:
        cfg = self.rate_limits
        now = asyncio.get_running_loop().time()
        chat_id = params.get("chat_id")
        windows: list[tuple[deque[float], float, int]] = [(self._sends_global, 1.0, cfg.global_per_second)]
        if isinstance(chat_id, int):
            windows.append((self._sends_chat[chat_id], 1.0, cfg.per_chat_per_second + cfg.per_chat_burst))
            if chat_id < 0:
                windows.append((self._sends_group[chat_id], 60.0, cfg.group_per_minute))
        wait = 0.0
        for sends, window, cap in windows:
            while sends and sends[0] <= now - window:
                sends.popleft()
            if len(sends) >= cap:
                wait = max(wait, sends[len(sends) - cap] + window - now)
        if wait > 0:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for sends, _, _ in windows:
            sends.append(now)

    # ------------------------------------------------------------------ extension
    def register_method(self, name: str, handler: Handler) -> None:
        """Serve an extra Bot API method: ``handler(params, files)`` (sync or async) returns the
        ``result`` or raises :class:`ApiError`. Overrides a built-in method of the same name."""
        self._extra_methods[name.lower()] = (name, handler)

    def stub_method(self, name: str, result: Any = True) -> None:
        """Answer ``name`` with a fixed result (opt-in: unknown methods are 404 by default)."""
        self.register_method(name, lambda _params, _files: result)

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if token != self.token:
            error = ApiError(401, "Unauthorized") if ":" in token else ApiError(404, "Not Found")
            return web.json_response(error.payload(), status=error.status)
        loop = asyncio.get_running_loop()
        started = loop.time()
        name = request.match_info["method"]
        extra = self._extra_methods.get(name.lower())
        canonical = extra[0] if extra else self._methods.get(name.lower())
        try:
            raw, files = await read_request(request)
        except ApiError as exc:
            return web.json_response(exc.payload(), status=exc.status)
        params = normalize(raw)
        record = CallRecord(canonical or name, params, files, time.time())
        self.calls.append(record)
        self._notify()
        response = await self._execute(record, canonical, extra[1] if extra else None)
        record.status = response.status
        record.duration = loop.time() - started
        if response.content_type == "application/json" and isinstance(response.body, bytes):
            record.response = json.loads(response.body)
        self._notify()
        return response

    async def _execute(
        self, record: CallRecord, canonical: str | None, extra: Handler | None
    ) -> web.Response:
        if canonical is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        try:
            fault = self._take_fault(canonical, record.params)
            if fault is not None:
                record.fault = True
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if not 200 <= fault.status < 300:
                    return self._fault_response(fault)
            if self.rate_limit and canonical.startswith("send") and canonical != "sendChatAction":
                try:
                    self._check_rate_limit(record.params)
                except ApiError:
                    record.rate_limited = True
                    raise
            handler = extra or getattr(self, f"api_{canonical}")
            result = handler(record.params, record.files)
            if inspect.isawaitable(result):
                result = await result
            return web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            return web.json_response(exc.payload(), status=exc.status)
        except Exception:  # a bug in the fake: make it loud
            tb = traceback.format_exc()
            self.errors.append(tb)
            log.error("fake Bot API failed on %s:\n%s", canonical, tb)
            return web.json_response(
                ApiError(500, "Internal Server Error (fake_bot_api bug)").payload(), status=500
            )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        raise web.HTTPNotFound()

    # ------------------------------------------------------------------ helpers shared with methods/actors
    def _new_callback_id(self) -> str:
        value = f"{self.bot_id}{self._next_callback_id:08d}"
        self._next_callback_id += 1
        return value

    def _store_file(self, data: bytes, prefix: str, ext: str) -> StoredFile:
        n = self._next_file_id
        self._next_file_id += 1
        stored = StoredFile(f"{prefix}-file-{n:06d}", f"uniq{n:06d}", data, f"{prefix}s/file_{n}.{ext}")
        self.files[stored.file_id] = stored
        return stored
