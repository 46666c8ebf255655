"""Small helpers for pointing python-telegram-bot at a :class:`FakeBotApi` and running it."""

# ruff: noqa: ASYNC109 - wait helpers take a `timeout` on purpose

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from telegram import Bot
from telegram.ext import Application, ApplicationBuilder

if TYPE_CHECKING:
    from .server import FakeBotApi


def make_bot(server: FakeBotApi, **kwargs: Any) -> Bot:
    """A plain ``telegram.Bot`` talking to the fake server (use as ``async with``)."""
    return Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url, **kwargs)


def application_builder(server: FakeBotApi) -> ApplicationBuilder:
    """An ``ApplicationBuilder`` with token and URLs of the fake server filled in."""
    return (
        ApplicationBuilder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url)
    )


@contextlib.asynccontextmanager
async def running_polling(
    app: Application, *, timeout: int = 1, poll_interval: float = 0.0, **kwargs: Any
) -> AsyncIterator[Application]:
    """initialize + start + start_polling; stops everything again on exit (quickly)."""
    async with app:
        await app.start()
        try:
            await app.updater.start_polling(poll_interval=poll_interval, timeout=timeout, **kwargs)
            try:
                yield app
            finally:
                if app.updater.running:
                    await app.updater.stop()
        finally:
            if app.running:
                await app.stop()


@contextlib.asynccontextmanager
async def running_webhook(
    app: Application,
    *,
    port: int,
    secret_token: str | None = None,
    url_path: str = "telegram",
    listen: str = "127.0.0.1",
    **kwargs: Any,
) -> AsyncIterator[Application]:
    """initialize + start + start_webhook (PTB's own tornado server; needs ``tornado``)."""
    async with app:
        await app.start()
        try:
            await app.updater.start_webhook(
                listen=listen,
                port=port,
                url_path=url_path,
                secret_token=secret_token,
                webhook_url=f"http://{listen}:{port}/{url_path}",
                **kwargs,
            )
            try:
                yield app
            finally:
                if app.updater.running:
                    await app.updater.stop()
        finally:
            if app.running:
                await app.stop()
