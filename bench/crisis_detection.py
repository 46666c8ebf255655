"""Measure the crisis and red-flag detector on the labelled phrase set, and how fast it runs.

Run as `python -m bench.crisis_detection`. Prints, for the main phrase set and for the held-out one
(written after the rules were tuned, never tuned on), the size, recall per kind, overall recall, the
rate of benign phrases answered with a serious safety dialog (crisis, overdose, self-harm, abuse or
emergency) and with any at all, and median/p99 detection time per message (plus 5,000-character
noise), so a change to `dialogs/triggers.yaml` can be judged by numbers before it ships. The unit
tests use `load_phrases` and `evaluate` from here, so the figures printed and the figures tested agree.

`python -m bench.crisis_detection --plain-words WORDLIST` (e.g. /usr/share/dict/british-english
from Debian's wbritish) lists real words that would be read as misspellings of a trigger word and
are not yet in the file's `plain_words`: run it after adding trigger words.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from coachbot.care.trigger_match import Matcher
from coachbot.care.trigger_rules import compile_mapping
from coachbot.care.triggers import FAILSAFE_RULE, KINDS, TriggerSet, load_default_triggers
from coachbot.spec.yaml_source import load_safe

ROOT = pathlib.Path(__file__).resolve().parents[1]
PHRASES = ROOT / "tests" / "data" / "trigger_phrases.yaml"
HELDOUT = ROOT / "tests" / "data" / "trigger_phrases_heldout.yaml"
NONE = "none"
SERIOUS = frozenset({"overdose", "self_harm", "crisis", "abuse", "red_flag_emergency"})
"""Kinds whose answer is a crisis, safeguarding or 999 message: a false one of these costs most."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """One labelled test phrasing: the kind that must be detected, or "none"."""

    text: str
    kind: str


@dataclass(slots=True)
class Evaluation:
    """Hits and misses over a phrase set; a positive counts as caught if its kind is detected."""

    caught: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    misses: list[Phrase] = field(default_factory=list)
    false_alarms: list[Phrase] = field(default_factory=list)
    serious_false_alarms: list[Phrase] = field(default_factory=list)

    def recall(self, kind: str) -> float:
        return self.caught[kind] / self.total[kind] if self.total[kind] else 1.0

    @property
    def overall_recall(self) -> float:
        positives = sum(n for kind, n in self.total.items() if kind != NONE)
        return sum(self.caught.values()) / positives if positives else 1.0

    @property
    def false_alarm_rate(self) -> float:
        return len(self.false_alarms) / self.total[NONE] if self.total[NONE] else 0.0

    @property
    def serious_false_alarm_rate(self) -> float:
        """Benign phrases answered with a crisis, overdose, self-harm, abuse or 999 message."""
        return len(self.serious_false_alarms) / self.total[NONE] if self.total[NONE] else 0.0


def load_phrases(path: pathlib.Path = PHRASES) -> list[Phrase]:
    """The labelled phrase set; fails loudly on an unknown label so a typo cannot hide a miss."""
    data = load_safe(path.read_text(encoding="utf-8"))
    phrases = [Phrase(str(item["text"]), str(item["kind"])) for item in data["phrases"]]
    unknown = {p.kind for p in phrases} - {*KINDS, NONE}
    if unknown:
        raise ValueError(f"{path}: unknown kind label(s): {', '.join(sorted(unknown))}")
    return phrases


def evaluate(triggers: TriggerSet, phrases: list[Phrase]) -> Evaluation:
    """Run every phrase through `detect_all` and count what was caught and what was wrongly raised.

    A detector failure (its fail-safe rule) counts as a miss and as a false alarm, never as a catch,
    so a crash cannot pass for a perfect score.
    """
    result = Evaluation()
    for phrase in phrases:
        detections = triggers.detect_all(phrase.text)
        if any(d.rule == FAILSAFE_RULE for d in detections):
            raise DetectorFailed(f"the detector failed on a phrase labelled {phrase.kind}")
        found = {d.kind for d in detections}
        result.total[phrase.kind] += 1
        if phrase.kind == NONE:
            if found:
                result.false_alarms.append(phrase)
            if found & SERIOUS:
                result.serious_false_alarms.append(phrase)
        elif phrase.kind in found:
            result.caught[phrase.kind] += 1
        else:
            result.misses.append(phrase)
    return result


class DetectorFailed(RuntimeError):
    """The detector raised inside (and answered with its fail-safe): figures would be meaningless."""


def noise_messages(count: int, length: int = 5000, seed: int = 7) -> list[str]:
    """Hostile-looking input of several shapes: letters, printable junk, unicode, emoji, one token."""
    rng = random.Random(seed)
    shapes = [
        string.ascii_letters + "      ",
        string.printable,
        "".join(chr(c) for c in range(0x20, 0x2000) if chr(c).isprintable()),
        "😀😭🔥👍🙏 ",
        string.ascii_lowercase,
    ]
    return ["".join(rng.choice(shapes[i % len(shapes)]) for _ in range(length)) for i in range(count)]


def timings_ms(
    triggers: TriggerSet, texts: list[str], rounds: int = 1, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Time of `detect_all` per message in milliseconds: wall time, or CPU time with time.thread_time."""
    times: list[float] = []
    for _ in range(rounds):
        for text in texts:
            start = clock()
            triggers.detect_all(text)
            times.append((clock() - start) * 1000)
    return times


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def missing_plain_words(wordlist: pathlib.Path) -> dict[str, set[str]]:
    """Real words (from a word list) read as a misspelling of a trigger word, not yet exempted."""
    path = ROOT / "dialogs" / "triggers.yaml"
    spec = compile_mapping(load_safe(path.read_text(encoding="utf-8")), str(path))
    lexicon = Matcher(spec).lexicon
    words = {w.strip().lower().replace("'", "") for w in wordlist.read_text(encoding="utf-8").splitlines()}
    found = {w: lexicon.misreadings(w) for w in sorted(words) if w.isalpha() and w.isascii()}
    return {w: hits for w, hits in found.items() if hits and w not in spec.plain_words}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plain-words", type=pathlib.Path, metavar="WORDLIST")
    args = parser.parse_args()
    if args.plain_words is not None:
        for word, hits in missing_plain_words(args.plain_words).items():
            print(f"{word}  (would read as: {', '.join(sorted(hits))})")
        return
    triggers = load_default_triggers(ROOT / "dialogs")
    phrases = load_phrases()
    results = [(name, evaluate(triggers, load_phrases(path))) for name, path in (("main", PHRASES),
                                                                                  ("held-out", HELDOUT))]
    for name, result in results:
        _report(name, result)
    texts = [p.text for p in phrases]
    timings_ms(triggers, texts)  # warm caches as a running service would be
    noise = noise_messages(50)
    for label, clock in (("wall", time.perf_counter), ("cpu", time.thread_time)):
        per_message = timings_ms(triggers, texts, rounds=20, clock=clock)
        per_noise = timings_ms(triggers, noise, rounds=3, clock=clock)
        print(
            f"time per message ({label:<4})     median {statistics.median(per_message):.3f} ms,"
            f" p99 {_p99(per_message):.3f} ms"
        )
        print(
            f"5,000-char noise ({label:<4})     median {statistics.median(per_noise):.3f} ms,"
            f" p99 {_p99(per_noise):.3f} ms"
        )
    for name, result in results:
        for phrase in result.misses:
            print(f"  {name} missed {phrase.kind}: {phrase.text!r}")
        for phrase in result.false_alarms:
            serious = " (serious)" if phrase in result.serious_false_alarms else ""
            print(f"  {name} false alarm{serious}: {phrase.text!r}")


def _report(name: str, result: Evaluation) -> None:
    negatives = result.total[NONE]
    print(f"{name} phrases: {sum(result.total.values())} ({negatives} benign)")
    for kind in KINDS:
        print(f"  recall {kind:<20} {result.recall(kind):6.1%}  ({result.caught[kind]}/{result.total[kind]})")
    print(f"  overall recall              {result.overall_recall:6.1%}")
    print(
        f"  benign -> serious answer    {result.serious_false_alarm_rate:6.1%}"
        f"  ({len(result.serious_false_alarms)}/{negatives})"
    )
    print(
        f"  benign -> any answer        {result.false_alarm_rate:6.1%}"
        f"  ({len(result.false_alarms)}/{negatives})"
    )


if __name__ == "__main__":
    main()
