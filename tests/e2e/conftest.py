"""Fixtures for end-to-end tests against the fake Telegram Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.fake_bot_api import FakeBotApi


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_bot_api(**kwargs): keyword arguments for the FakeBotApi of the `fake_bot_api` fixture, "
        "e.g. @pytest.mark.fake_bot_api(rate_limit=True)",
    )


@pytest.fixture
async def fake_bot_api(request: pytest.FixtureRequest) -> AsyncIterator[FakeBotApi]:
    """A started :class:`FakeBotApi` (token ``123:TEST``), stopped after the test.

    Options via ``@pytest.mark.fake_bot_api(rate_limit=True, token="...")``. The test fails at
    teardown if the fake itself crashed while serving a request (``server.errors``).
    """
    marker = request.node.get_closest_marker("fake_bot_api")
    server = FakeBotApi(**(marker.kwargs if marker else {}))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    if server.errors:
        pytest.fail("fake Bot API crashed while serving requests:\n" + "\n".join(server.errors))
