"""The pacing rule: never more than `limit` requests in any one-second window, wherever the server
happens to count them between our send and its answer; lane 0 first; bulk in order and spread out."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from coachbot.adapters.telegram.pacing import BULK_CATCH_UP, MARGIN, Pacer, Window

# One request: (seconds after the previous request asked, seconds until its answer, answered at all).
requests = st.lists(st.tuples(st.floats(0.0, 0.2), st.floats(0.0, 0.6), st.booleans()),
                    min_size=1, max_size=120)


def simulate(limit: int, asks: list[tuple[float, float, bool]]) -> list[tuple[float, float]]:
    """Grant each request (in the order asked) as soon as the window allows; returns for each the
    span of time in which the server may count it: [sent, answered], or one second longer when no
    answer came (the request may still arrive)."""
    window = Window(limit, 1.0 + MARGIN)
    asked_at, t = [], 0.0
    for gap, _, _ in asks:
        t += gap
        asked_at.append(t)
    spans: list[tuple[float, float]] = []
    ends: list[tuple[float, int]] = []  # (answer time, request index)
    now, nxt = 0.0, 0
    while nxt < len(asks) or ends:
        while ends and ends[0][0] <= now:
            _, i = heapq.heappop(ends)
            if asks[i][2]:
                window.answered(now)
            else:
                window.unanswered(now)
                spans[i] = (spans[i][0], now + 1.0)
        while nxt < len(asks) and asked_at[nxt] <= now and window.room(now):
            window.take()
            spans.append((now, now + asks[nxt][1]))
            heapq.heappush(ends, (now + asks[nxt][1], nxt))
            nxt += 1
        if nxt == len(asks) and not ends:
            break
        events = [ends[0][0]] if ends else []
        if nxt < len(asks):
            events.append(asked_at[nxt])
            free = window.free_at(now)
            if free is not None:
                events.append(free)
        later = [e for e in events if e > now]
        assert later or (ends and ends[0][0] <= now), "the window stalled with requests waiting"
        now = min(later) if later else now
    return spans


def most_in_one_second(spans: list[tuple[float, float]]) -> int:
    """The most requests the server could count in one window (x - 1, x], choosing for each request
    any arrival time within its span: the worst x is always some request's send time."""
    return max(sum(1 for s, e in spans if s <= x and e > x - 1.0) for x, _ in spans)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 30), asks=requests)
def test_no_one_second_window_ever_holds_more_than_the_limit(
        limit: int, asks: list[tuple[float, float, bool]]) -> None:
    spans = simulate(limit, asks)
    assert len(spans) == len(asks)  # and every request was granted in the end
    assert most_in_one_second(spans) <= limit


def test_instant_answers_get_the_full_rate() -> None:
    spans = simulate(30, [(0.0, 0.0, True)] * 300)
    sent = [s for s, _ in spans]
    assert sent[29] == 0.0 and sent[30] > 1.0  # thirty at once, then the first frees
    assert 300 / (sent[-1] + 1.0 + MARGIN) > 29.5  # about 30 a second overall


def test_a_request_without_an_answer_keeps_its_place_a_second_longer() -> None:
    window = Window(1, 1.0)
    window.take()
    window.unanswered(5.0)
    assert not window.room(6.9) and window.free_at(6.9) == 7.0 and window.room(7.0)


async def test_replies_go_first_and_bulk_goes_in_the_order_asked_and_evenly_spread() -> None:
    pacer = Pacer(10.0, 100.0, 5)  # 10 in any second: bulk spaced about 0.1 s apart
    order: list[str] = []
    granted: list[float] = []

    async def send(name: str, lane: int) -> None:
        slot = await pacer.slot(lane)
        assert slot is not None
        order.append(name)
        granted.append(time.monotonic())
        slot.answered()

    bulk = [asyncio.create_task(send(f"bulk{i}", 1)) for i in range(9)]
    await asyncio.sleep(0.05)
    reply = asyncio.create_task(send("reply", 0))
    await asyncio.gather(*bulk, reply)
    assert order.index("reply") <= BULK_CATCH_UP + 2  # it did not wait behind the queue of bulk sends
    assert [n for n in order if n != "reply"] == [f"bulk{i}" for i in range(9)]
    bulk_times = [t for n, t in zip(order, granted, strict=True) if n != "reply"]
    gaps = [b - a for a, b in itertools.pairwise(bulk_times[BULK_CATCH_UP:])]
    assert all(gap >= pacer.spacing * 0.9 for gap in gaps)  # after the first few, spread evenly
    assert len(gaps) >= 4


async def test_stopping_ends_every_wait_and_frees_nothing_twice() -> None:
    pacer = Pacer(1.0, 100.0, 5)
    first = await pacer.slot(1)
    assert first is not None  # the only slot this second, still in flight
    waiting = asyncio.create_task(pacer.slot(1))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    pacer.release_waiters()
    assert await waiting is None
    assert await pacer.slot(0) is None  # and later waits end at once
    first.answered()
    first.unanswered()  # a second ending is ignored
    assert pacer.window.in_flight == 0


async def test_an_alert_card_gets_the_next_slot_before_replies_that_asked_earlier() -> None:
    pacer = Pacer(1.0, 100.0, 5)  # one slot a second: everyone else waits
    first = await pacer.slot(0)
    assert first is not None
    order: list[str] = []

    async def send(name: str, lane: int, alert: bool = False) -> None:
        slot = await pacer.slot(lane, alert=alert)
        assert slot is not None
        order.append(name)
        slot.answered()

    waiting = [asyncio.create_task(send(f"reply{i}", 0)) for i in range(2)]
    waiting.append(asyncio.create_task(send("bulk", 1)))
    await asyncio.sleep(0.01)
    waiting.append(asyncio.create_task(send("alert", 0, alert=True)))
    await asyncio.sleep(0.01)
    first.answered()
    await asyncio.wait_for(asyncio.gather(*waiting), 6)
    assert order == ["alert", "reply0", "reply1", "bulk"]
