"""What is wrong with a dialog file, said the way a compiler says it.

Admins fix dialog files without a developer at hand, so every problem carries the file and line to
open, the script and state it concerns, and a concrete fix. Validation collects problems instead of
stopping at the first one, so a single run shows everything that needs doing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in a dialog file.

    `line` is 1-based; it is None only when the problem concerns a whole file (say, one that cannot
    be read). `script` is the script or block name the file declares, `state` the state concerned.
    """

    file: str
    line: int | None
    script: str | None
    state: str | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        if self.script and self.state:
            where += f"{self.script}/{self.state}: "
        elif self.script:
            where += f"{self.script}: "
        elif self.state:
            where += f"{self.state}: "
        text = where + self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in reading order (file, then line), each once: the same mistake found through two
    scripts that share a block is worth one line of output, not two."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.script or "", p.state or "", p.message))


class DialogError(Exception):
    """Raised when dialog files cannot be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sort_problems(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the dialog files"
        super().__init__("\n".join([head + ":", *(str(p) for p in self.problems)]))
