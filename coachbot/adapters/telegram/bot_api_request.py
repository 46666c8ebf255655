"""python-telegram-bot's HTTP requests on our own small HTTP/1.1 client (uploads on aiohttp) instead of httpx.

Why: every reply is one Bot API call, and at a few hundred answers a second the HTTP client is the
bot's biggest cost after the database. PTB's default client (httpx with httpcore) spent about 1.5 ms
of CPU per request here, aiohttp about 0.4 ms, and `http1.Http1Pool` (keep-alive connections, a
request written as bytes, the answer parsed by hand) about a third of that (see the README's Telegram
performance section). Uploads (multipart: alert cards, exports) are rare and stay on aiohttp. PTB
supports swapping the client through `BaseRequest`; this class is only that translation: PTB's form
fields and files in, (status, body) out, and the clients' errors as PTB's `TimedOut` /
`NetworkError`, so PTB's own error handling (`BaseRequest._request_wrapper`: 403, 429, 400 and the
rest, which the outbox's retries are built on) behaves exactly as with httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from coachbot.adapters.telegram.http1 import Http1Pool

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


class JsonBody(RequestData):  # type: ignore[misc]  # PTB marks it final; see below
    """A request's parameters encoded as one JSON object up front (the Bot API accepts
    application/json). Sending a reply this way skips PTB building a RequestParameter per field and
    then a form; `BotApiRequest` sends it as it is. It is a RequestData (with no parameters, so no
    files) only so that it can travel through PTB's `BaseRequest.post`, which hands it to
    `do_request` untouched: that keeps PTB's own status-to-exception mapping for replies."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body


class BotApiRequest(BaseRequest):
    """Pooled keep-alive connections (an aiohttp session for uploads), created by `initialize` and
    closed by `shutdown`."""

    def __init__(self, *, connection_pool_size: int = 128, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._http: Http1Pool | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT},
                skip_auto_headers=("Accept-Encoding",))
        if self._http is None:
            self._http = Http1Pool(limit=self._pool_size, user_agent=self.USER_AGENT, keepalive=60)

    async def shutdown(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(  # noqa: PLR0917 (PTB's signature)
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed or self._http is None:
            raise RuntimeError("this BotApiRequest is not initialized")
        files = request_data.multipart_data if request_data and request_data.contains_files else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = (self._media_write_timeout if files else self._write_timeout) \
            if isinstance(write_timeout, DefaultValue) else write_timeout
        # Neither client has a separate write timeout: a request's upload and response must fit in
        # write + read, and waiting for a pooled connection counts towards connecting.
        total = None if read is None or write is None else read + write + (connect or 0) + (pool or 0)
        if files:
            return await self._upload(url, method, request_data, files, read, connect, total)
        body, content_type = None, None
        if isinstance(request_data, JsonBody):
            body, content_type = request_data.body, _JSON
        elif request_data is not None and (fields := request_data.json_parameters):
            body, content_type = urlencode(fields).encode(), _FORM
        try:
            return await self._http.request(method, url, body, content_type, connect_timeout=connect,
                                            read_timeout=read, pool_timeout=pool, total_timeout=total)
        except TimeoutError as exc:
            raise TimedOut from exc
        except (OSError, ValueError) as exc:  # connection refused or reset, TLS, a malformed answer
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc

    async def _upload(self, url: str, method: str, request_data: RequestData | None,  # noqa: PLR0917
                      files: Mapping[str, object], read: float | None, connect: float | None,
                      total: float | None) -> tuple[int, bytes]:
        """A request with files, as multipart through aiohttp."""
        assert self._session is not None
        fields = request_data.json_parameters if request_data else None
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        form = aiohttp.FormData()
        for name, value in (fields or {}).items():
            form.add_field(name, value)
        for name, upload in files.items():
            if isinstance(upload, tuple):
                filename, content, *rest = upload
                form.add_field(name, content, filename=filename,
                               content_type=rest[0] if rest else "application/octet-stream")
            else:
                form.add_field(name, upload)
        try:
            async with self._session.request(method, url, data=form, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
