"""The cyclic garbage collector held off while `coachbot run` starts, and let loose once it is ready.

Start-up builds some 150,000 objects that live as long as the process (the imported modules, the
dialog library, the trigger indexes) and frees few, so the collector's automatic passes over them
find next to nothing, yet each full pass walks everything built so far: on this project's start-up
they cost about 0.15 s of the 1.3 s. `hold()` turns automatic collection off (reference counting
still frees everything that is not in a cycle); `release()` turns it back on, and the first passes
after it pick up the few cycles start-up left behind. Both are no-ops when there is nothing to do,
so code that never held the collector (tests calling `serve` directly) can call `release()` safely.

Only the `coachbot run` entry point holds it (and `bench.ready_probe`, which times that path); a
library import never changes the collector.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """Turn automatic cyclic collection off until `release()`, if it is on."""
    global _held  # noqa: PLW0603 - one process-wide switch, like the collector itself
    if gc.isenabled():
        gc.disable()
        _held = True


def release() -> None:
    """Turn automatic collection back on if `hold()` turned it off."""
    global _held  # noqa: PLW0603 - see hold()
    if _held:
        _held = False
        gc.enable()
