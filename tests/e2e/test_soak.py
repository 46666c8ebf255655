"""The soak with faults, short: the same driver as `make soak` (tests/soak) with small numbers.

Thirty synthetic patients for three simulated days through the real bot in its own process
(`tests/support/soak_bot.py`, i.e. `coachbot run` on a simulated clock) against the fake Bot API
server, which answers 429 and 502 to a share of calls and holds a few; the bot is SIGKILLed twice
and restarted, and on PostgreSQL its database connections are dropped. Every patient event (crisis,
pause, stop, block, /forget) happens at least once.
"""

from __future__ import annotations

from pathlib import Path

from tests.soak.driver import SoakConfig
from tests.soak.run import soak_and_count
from tests.support.databases import POSTGRES_ADMIN_URL

SHORT = SoakConfig(patients=30, days=3, kills=2, connection_drops=1, answer_share=0.5, seed=4,
                   settle_timeout=60.0)


async def test_short_soak_with_faults_loses_and_doubles_nothing(database_url: str, tmp_path: Path) -> None:
    admin = POSTGRES_ADMIN_URL if database_url.startswith("postgresql") else None
    counts, _ = await soak_and_count(SHORT, database_url, tmp_path, admin_url=admin,
                                     log=lambda *line, **how: None)
    print(counts.table())
    figures = {what: value for what, value, _ in counts.rows}
    assert not counts.problems, "\n".join(counts.problems) + "\n\n" + counts.table()
    # The soak did what it says: answers stored, check-ins sent, a crisis card, faults and kills.
    erased = figures["  of them by patients who then erased their information"]
    given = figures["answers the patients gave (pain, mood, step feedback)"]
    assert figures["answers stored"] == given - erased
    assert figures["answers stored"] > 40
    assert figures["  sent exactly once (arrived, run marked sent)"] > 50
    crises = figures["crisis statements typed"]
    assert figures["crisis cards delivered to the coach exactly once"] == crises >= 1
    assert figures["SIGKILLs of the bot (each restarted)"] == 2
    assert int(figures["429s answered"]) + int(figures["502s answered"]) > 0
