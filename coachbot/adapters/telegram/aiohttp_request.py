"""python-telegram-bot's HTTP requests on aiohttp instead of httpx.

Why: every reply is one Bot API call, and at a few hundred answers a second the HTTP client is the
bot's biggest cost after the database. PTB's default client (httpx with httpcore) spends about 1.5 ms
of CPU per request here; aiohttp does the same request in a fraction of that
(see the README's Telegram performance section). PTB supports swapping the client through
`BaseRequest`; this class is only that translation: PTB's form fields and files in, (status, body)
out, and aiohttp's errors as PTB's `TimedOut` / `NetworkError`, so PTB's own error handling (and the
outbox's retries built on it) behave exactly as with httpx.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """A pooled keep-alive aiohttp session, created by `initialize` and closed by `shutdown`."""

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

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT},
                skip_auto_headers=("Accept-Encoding",))

    async def shutdown(self) -> None:
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
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = (self._media_write_timeout if files else self._write_timeout) \
            if isinstance(write_timeout, DefaultValue) else write_timeout
        # aiohttp has no separate write timeout: a request's upload and response must fit in
        # write + read, and waiting for a pooled connection counts towards connecting.
        total = None if read is None or write is None else read + write + (connect or 0) + (pool or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if fields and not files:  # encoded here: aiohttp would build a FormData for a plain dict
            body, headers = urlencode(fields).encode(), _FORM
        if files:
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
            body = form
        try:
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
