"""Invite codes cannot be guessed: enough entropy, and wrong codes from one account are limited."""

from __future__ import annotations

import datetime as dt
import math

from coachbot.app.coaches.code_attempts import (
    FORGET,
    LIMIT,
    MAX_PAUSE,
    PAUSE,
    SWEEP_AT,
    WINDOW,
    CodeAttempts,
    plain_wait,
)
from coachbot.app.coaches.invites import ALPHABET, CODE_LENGTH, code_hash, new_code

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_invite_codes_carry_at_least_60_bits_from_the_whole_alphabet() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET)
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 60
    codes = [new_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    plain = [c.replace("-", "") for c in codes]
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in plain)
    assert set("".join(codes).replace("-", "")) == set(ALPHABET)  # every letter is used, none left out


def test_a_code_is_the_same_code_whatever_the_case_spaces_or_dashes() -> None:
    assert code_hash("k7qm 4xpa rt2h") == code_hash("K7QM-4XPA-RT2H") != code_hash("K7QM-4XPA-RT2J")


def test_the_fifth_wrong_code_in_15_minutes_pauses_the_account_for_30_minutes() -> None:
    attempts = CodeAttempts()
    assert [attempts.wrong(1, T0 + dt.timedelta(minutes=3 * n)) for n in range(LIMIT)] == [None] * 4 + [PAUSE]
    last = T0 + dt.timedelta(minutes=3 * (LIMIT - 1))
    assert attempts.paused(1, last + PAUSE - dt.timedelta(seconds=1))
    assert not attempts.paused(1, last + PAUSE)
    assert not attempts.paused(2, last)  # per account
    assert (dt.timedelta(minutes=15), dt.timedelta(minutes=30), 5) == (WINDOW, PAUSE, LIMIT)


def test_wrong_codes_older_than_the_window_no_longer_count_and_joining_clears_the_count() -> None:
    attempts = CodeAttempts()
    for n in range(LIMIT - 1):
        attempts.wrong(1, T0 + dt.timedelta(seconds=n))
    assert not attempts.wrong(1, T0 + WINDOW)  # the first one has aged out
    for n in range(LIMIT - 1):
        attempts.wrong(2, T0 + dt.timedelta(seconds=n))
    attempts.joined(2)
    assert not attempts.wrong(2, T0 + dt.timedelta(seconds=10))


def test_forgotten_accounts_are_swept_so_memory_stays_bounded_but_pauses_are_kept() -> None:
    attempts = CodeAttempts()
    for _ in range(LIMIT):
        attempts.wrong(0, T0)
    for account in range(1, SWEEP_AT):
        attempts.wrong(account, T0)
    later = T0 + WINDOW + dt.timedelta(seconds=1)
    assert len(attempts) == SWEEP_AT
    attempts.wrong(SWEEP_AT, later)
    assert len(attempts) == 2  # the paused account and the new one
    assert attempts.paused(0, later)


def test_each_wrong_code_after_a_pause_pauses_again_twice_as_long_up_to_a_day() -> None:
    attempts = CodeAttempts()
    now = T0
    for _ in range(LIMIT):
        pause = attempts.wrong(1, now)
    assert pause == PAUSE
    pauses = []
    for _ in range(8):
        wait = attempts.wait(1, now)
        assert wait is not None
        now += wait  # the pause is over: the next wrong code pauses at once, for longer
        assert attempts.wait(1, now) is None
        pauses.append(attempts.wrong(1, now))
    assert [p // dt.timedelta(minutes=1) for p in pauses if p is not None] == [
        60, 120, 240, 480, 960, 1440, 1440, 1440]
    assert dt.timedelta(hours=24) == MAX_PAUSE


def test_an_account_quiet_for_a_day_after_its_pause_starts_clean_and_a_right_code_forgives_at_once() -> None:
    attempts = CodeAttempts()
    for _ in range(LIMIT):
        attempts.wrong(1, T0)
        attempts.wrong(2, T0)
    quiet = T0 + PAUSE + FORGET
    assert [attempts.wrong(1, quiet) for _ in range(LIMIT)] == [None] * 4 + [PAUSE]
    attempts.joined(2)
    assert attempts.wrong(2, T0 + PAUSE) is None


def test_the_wait_is_said_in_whole_minutes_or_hours_rounded_up() -> None:
    minutes = dt.timedelta(minutes=1)
    assert plain_wait(PAUSE) == ("minutes", 30)
    assert plain_wait(29 * minutes + dt.timedelta(seconds=1)) == ("minutes", 30)
    assert plain_wait(dt.timedelta(seconds=5)) == ("minutes", 2)
    assert plain_wait(90 * minutes) == ("minutes", 90)
    assert plain_wait(120 * minutes) == ("hours", 2)
    assert plain_wait(MAX_PAUSE - minutes) == ("hours", 24)
