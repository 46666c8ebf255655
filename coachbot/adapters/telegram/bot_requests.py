"""The HTTP requests the bot makes: `AiohttpRequest` (PTB's documented `BaseRequest` extension point on
aiohttp, see `aiohttp_request.py`: a fraction of `HTTPXRequest`'s CPU a call), sized and timed for this bot.

PTB's defaults (5 s to read an answer, 1 s to wait for a pooled connection) suit a bot that can simply
call again; ours sends each outbox row at least once and retries any `NetworkError`, `TimedOut`
included. So the timeouts follow one rule: give up early only where giving up cannot mean that
Telegram already has the message.

- connect, write (5 s): nothing has reached Telegram yet when either runs out, so retrying later (the
  outbox's backoff) sends the message once. Uploads (alert charts, exports) get longer to write.
- read (30 s) on sends: by the time we wait for the answer Telegram may already have delivered the
  message; giving up then and retrying would show the patient the same message twice. Telegram
  answers in well under a second, so this only ever runs out when it is truly stuck; meanwhile only
  that chat's worker waits, the other chats keep sending.
- pool: the sending pool holds a connection for every send the outbox makes at once
  (`SENDS_IN_FLIGHT`) plus the few calls made outside it (getMe, the command menus), so a send never
  waits for a connection; should it wait anyway, the request was not sent and the pool timeout's
  `TimedOut` is retried safely.
- getUpdates has a request of its own, as PTB intends. PTB's `Bot.get_updates` adds the long-poll
  `timeout` it is called with (polling passes `telegram_poll_timeout`) to this request's read
  timeout, so the read timeout here is only the margin beyond the time Telegram may legitimately
  hold the poll open. A poll that runs out confirms nothing and is simply made again.
"""

from __future__ import annotations

from coachbot.adapters.telegram.aiohttp_request import AiohttpRequest

SENDS_IN_FLIGHT = 64
"""Bot API calls the outbox sender makes at once (its `max_in_flight`)."""
OTHER_CALLS = 4
"""Connections kept for calls made outside the outbox: getMe at start, the command menus."""

CONNECT_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
MEDIA_WRITE_TIMEOUT = 30.0
SEND_READ_TIMEOUT = 30.0
POOL_TIMEOUT = 1.0
POLL_READ_MARGIN = 10.0
"""Seconds allowed beyond the long-poll timeout for a getUpdates answer to arrive."""
POLL_CONNECTIONS = 2
"""One poll at a time; the second connection lets PTB's final confirming poll at stop start at once
while a cancelled poll's connection is still being closed."""


def sending_request() -> AiohttpRequest:
    """The request object for every call but getUpdates: replies, alerts, edits, uploads, getMe."""
    return AiohttpRequest(connection_pool_size=SENDS_IN_FLIGHT + OTHER_CALLS, read_timeout=SEND_READ_TIMEOUT,
                          write_timeout=WRITE_TIMEOUT, connect_timeout=CONNECT_TIMEOUT,
                          pool_timeout=POOL_TIMEOUT, media_write_timeout=MEDIA_WRITE_TIMEOUT)


def polling_request() -> AiohttpRequest:
    """The request object for getUpdates (PTB adds the long-poll timeout to its read timeout)."""
    return AiohttpRequest(connection_pool_size=POLL_CONNECTIONS, read_timeout=POLL_READ_MARGIN,
                          write_timeout=WRITE_TIMEOUT, connect_timeout=CONNECT_TIMEOUT,
                          pool_timeout=POOL_TIMEOUT)
