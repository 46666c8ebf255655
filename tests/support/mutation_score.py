"""The mutation score of each safety file after `make mutation`, failing below the bar.

mutmut 3 reports one verdict per mutant; this sums them per source file for the mutants the given
name patterns select (the pre-emption functions of runner.py, not the whole engine). A mutant no
test runs counts as a survivor: code the unit tests never reach is not protected by them.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

DETECTED = {"killed", "timeout", "caught by type check", "segfault"}
MISSED = {"survived", "no tests"}


def verdicts(mutants: Path, patterns: list[str]) -> dict[str, Counter[str]]:
    """Status counts by source file, for the mutants whose names match a pattern."""
    out: dict[str, Counter[str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = str(meta.relative_to(mutants)).removesuffix(".meta")
        codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        for name, code in codes.items():
            if any(fnmatch.fnmatchcase(name, p) for p in patterns):
                out.setdefault(source, Counter())[status_by_exit_code[code]] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("patterns", nargs="+", help="the mutant name patterns given to `mutmut run`")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--at-least", type=float, default=90.0, help="the lowest acceptable score, in %%")
    args = parser.parse_args(argv)
    failed = False
    for source, counts in verdicts(args.mutants, args.patterns).items():
        detected = sum(counts[s] for s in DETECTED)
        judged = detected + sum(counts[s] for s in MISSED)
        score = 100 * detected / judged if judged else 0.0
        unjudged = sum(counts.values()) - judged
        note = f", {unjudged} not checked" if unjudged else ""
        print(f"{source}: {score:.1f}% ({detected} of {judged} killed; {counts['survived']} survived, "
              f"{counts['no tests']} without a test{note})")
        failed |= score < args.at_least or unjudged > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
