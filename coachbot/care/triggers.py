"""Crisis, abuse and red-flag detection on every free-text message a patient sends.

A hit pre-empts whatever dialog is running, so detection is tuned to over-trigger: a false alarm
costs a message, a miss can cost a life. Phrases live in `dialogs/triggers.yaml` (compiled by
`trigger_rules`), text is normalised by `textnorm` and matched by `trigger_match`, whose work
per message is small and bounded, so hostile or very long input stays fast. `detect` never
raises: if matching itself fails, it reports a crisis rather than risk a silent miss. A Detection
carries only the rule id, never the patient's words.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from yaml import MarkedYAMLError, YAMLError

from coachbot.care.trigger_match import Matcher
from coachbot.care.trigger_rules import FALLBACK, KINDS, TriggerFileError, TriggerSpec, compile_mapping
from coachbot.spec.yaml_source import load_safe

__all__ = [
    "FAILSAFE_RULE",
    "FALLBACK",
    "KINDS",
    "Detection",
    "TriggerFileError",
    "TriggerSet",
    "load_default_triggers",
]

_log = logging.getLogger(__name__)
FAILSAFE_RULE = "internal.detector_failed"
"""The rule id of the crisis reported when matching itself failed (so tests can tell a crash)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """What was detected: the kind, the rule id and the language of a rule written for one (safe to
    log: it holds no message text)."""

    kind: str
    rule: str
    language: str | None = None


class TriggerSet:
    """A compiled set of trigger rules; build with `from_file` or `from_mapping`."""

    __slots__ = ("_lines", "_matcher", "_normaliser", "source")

    def __init__(self, spec: TriggerSpec) -> None:
        self.source = spec.source
        self._normaliser = spec.normaliser
        self._matcher = Matcher(spec)
        self._lines = dict(spec.language_lines)

    def language_line(self, language: str | None) -> str | None:
        """The reviewed line to add in this language after the English safety text, if there is one."""
        return self._lines.get(language) if language is not None else None

    @classmethod
    def from_file(cls, path: pathlib.Path) -> TriggerSet:
        """Load and validate a trigger file; any problem raises TriggerFileError in one line."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TriggerFileError(f"{path}: cannot read the trigger file: {reason}") from None
        try:
            data = load_safe(text)
        except MarkedYAMLError as exc:
            line = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
            problem = exc.problem or exc.context or "invalid YAML"
            raise TriggerFileError(f"{path}: not valid YAML{line}: {problem}".replace("\n", " ")) from None
        except YAMLError as exc:
            raise TriggerFileError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
        if data is None:
            raise TriggerFileError(f"{path}: the trigger file is empty")
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<memory>") -> TriggerSet:
        """Build from already-parsed data (tests, admin previews); raises TriggerFileError."""
        return cls(compile_mapping(data, source))

    def detect(self, text: str) -> Detection | None:
        """The highest-priority hit, or None; never raises (fails safe to a crisis detection)."""
        for found in self._detections(text):
            return found
        return None

    def detect_all(self, text: str) -> list[Detection]:
        """Every rule that fired, highest priority first."""
        return list(self._detections(text))

    def _detections(self, text: str) -> Iterator[Detection]:
        """Detections in priority order, with the fail-safe around the whole scan."""
        try:
            yield from self._scan(text if isinstance(text, str) else str(text))
        except Exception as exc:  # a detector bug must never silence a crisis message
            _log.error("trigger detection failed (%s); reporting a crisis to fail safe", type(exc).__name__)
            yield Detection("crisis", FAILSAFE_RULE)

    def _scan(self, text: str) -> Iterator[Detection]:
        for kind, rule, language in self._matcher.scan(*self._normaliser.split(text)):
            yield Detection(kind, rule, language)


def load_default_triggers(dialogs_dir: pathlib.Path) -> TriggerSet:
    """The service's trigger set from `dialogs_dir / "triggers.yaml"`."""
    return TriggerSet.from_file(dialogs_dir / "triggers.yaml")
