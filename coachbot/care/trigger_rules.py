"""Read, validate and compile the admin-editable trigger file (`dialogs/triggers.yaml`).

Admins tune crisis and red-flag phrases without a code change, so a mistake in the file must be
caught at load time with one plain line naming the file and what is wrong, never at match time.

Phrase grammar (words are normalised exactly like patient text, so "can't" means "can not"):
  `a|b|c`   one of several words at this place      `word*`  any word starting with "word"
  `slot?`   the slot may be absent                  `a+b`    a multi-word alternative
  `..N`     up to N other words (`...` means ..3)  `@name`  every alternative of group `name`
  `#`       any number (`#minN`: N or more)         `$`      (last) the sentence or message ends here
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coachbot.care.textnorm import WORD_CHARS, Normaliser, simplify

KINDS: tuple[str, ...] = ("overdose", "self_harm", "crisis", "abuse", "red_flag_emergency", "red_flag_urgent")
"""Detection kinds, highest priority first: an overdose already taken needs A&E before anything else,
self-harm wounds need care as well as the crisis resources, and a crisis pre-empts a red flag."""

REQUIRED_KINDS: tuple[str, ...] = ("crisis", "abuse", "red_flag_emergency", "red_flag_urgent")
"""Kinds every trigger file must have a rule for; the others refine one of these (see FALLBACK)."""

FALLBACK: Mapping[str, str] = {"overdose": "crisis", "self_harm": "crisis"}
"""The kind whose safety dialog answers a refined kind when no dialog of its own is configured."""

Kind = Literal["overdose", "self_harm", "crisis", "abuse", "red_flag_emergency", "red_flag_urgent"]
AtomKey = tuple[str, str]  # ("w", word) lenient, ("x", word) exact, ("p", prefix), ("n", "") number
Alternative = tuple[AtomKey, ...]
Slot = tuple[Alternative, ...]
Element = int | Slot  # an int is a gap of up to that many words; END marks the end of a sentence
Variant = tuple[Element, ...]
END = -1  # last element of a variant that must end where a sentence or the message ends

_ID = r"^[a-z0-9][a-z0-9_.\-]*$"
_WORD = re.compile(f"[{WORD_CHARS}]+")
_DIGIT = re.compile(r"[0-9]")  # a word with a digit is matched exactly, never as a misspelling
_GAP = re.compile(r"\.\.(\d+)|\.\.\.")
_MAX_OPTIONAL = 4
_QUIETENABLE = frozenset({"red_flag_emergency", "red_flag_urgent"})
"""Kinds a message-wide exception may quieten: never a crisis, an overdose or abuse."""
_AT_LEAST = re.compile(r"#min(\d{1,4})")
_MIN_PREFIX = 4


class TriggerFileError(ValueError):
    """The trigger file is missing or wrong; the message is one line naming the file and the fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Settings(_Strict):
    fuzzy_min_length: int = Field(default=6, ge=4, le=20)
    short_fuzzy_min_length: int = Field(default=3, ge=3, le=20)
    max_gap: int = Field(default=6, ge=1, le=10)


class _Rule(_Strict):
    id: str = Field(pattern=_ID)
    kind: Kind
    keywords: list[str] = []
    phrases: list[str] = []
    fuzzy: bool = True
    language: str | None = Field(default=None, pattern=_ID)
    note: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> _Rule:
        if not self.keywords and not self.phrases:
            raise ValueError("a rule needs at least one keyword or phrase")
        return self


class _Exception(_Strict):
    id: str = Field(pattern=_ID)
    phrases: list[str] = Field(min_length=1)
    suppresses: list[str] = Field(min_length=1)
    scope: Literal["span", "message"] = "span"
    note: str = ""


class _File(_Strict):
    version: Literal[1]
    settings: _Settings = _Settings()
    aliases: dict[str, str] = {}
    plain_words: list[str] | str = []  # a list, or one string of words separated by spaces
    groups: dict[str, list[str]] = {}
    language_lines: dict[str, str] = {}
    sound_alikes: dict[str, str] = {}
    rules: list[_Rule] = Field(min_length=1)
    exceptions: list[_Exception] = []


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One compiled rule: its id, kind and every phrase variant (optional slots expanded)."""

    id: str
    kind: str
    variants: tuple[Variant, ...]
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ExceptionSpec:
    """An idiom ("killed myself laughing") whose span hides hits of the rules it names."""

    id: str
    variants: tuple[Variant, ...]
    suppresses: frozenset[str]
    message_wide: bool = False
    """A reassurance ("nothing broken") that quietens a red-flag rule anywhere in the same message."""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """Everything the matcher needs, already checked."""

    source: str
    normaliser: Normaliser
    rules: tuple[RuleSpec, ...]
    exceptions: tuple[ExceptionSpec, ...]
    plain_words: frozenset[str]
    fuzzy_min_length: int
    language_lines: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Per language code, the one line added in that language after the English safety text."""
    short_fuzzy_min_length: int = 3
    """Shorter words than `fuzzy_min_length`, down to this, get guarded misspelling readings."""
    sound_alikes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Real words typed for a trigger word ("dye" for "die"), read so only in a risk context."""


def compile_mapping(data: Mapping[str, Any], source: str) -> TriggerSpec:
    """Validate a loaded trigger file and compile its phrases, or raise TriggerFileError."""
    if not isinstance(data, Mapping):
        raise TriggerFileError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        parsed = _File.model_validate(dict(data))
    except ValidationError as exc:
        raise TriggerFileError(f"{source}: {_describe(exc, data)}") from None
    try:
        return _compile(parsed, source)
    except _Problem as exc:
        raise TriggerFileError(f"{source}: {exc}") from None


class _Problem(Exception):
    """An error found while compiling; becomes a TriggerFileError with the file name in front."""


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """First validation error as `where: what`, with the rule id when one is known."""
    errors = exc.errors()
    first = errors[0]
    where = ""
    node: Any = data
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(part, int) and isinstance(node, Mapping) and isinstance(node.get("id"), str):
            where += f" (id '{node['id']}')"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where or 'file'}: {message}{more}".replace("\n", " ")


def _compile(parsed: _File, source: str) -> TriggerSpec:
    for key in parsed.aliases:
        if not _WORD.fullmatch(key):
            raise _Problem(f"aliases: key '{key}' must be lowercase letters and digits only")
    words = parsed.plain_words.split() if isinstance(parsed.plain_words, str) else parsed.plain_words
    plain = frozenset(simplify(w).strip() for w in words)
    for word in plain:
        if not _WORD.fullmatch(word):
            raise _Problem(f"plain_words: '{word}' must be a single lowercase word")
    normaliser = Normaliser(parsed.aliases)
    compiler = _PhraseCompiler(normaliser, parsed.groups, parsed.settings.max_gap)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for rule in parsed.rules:
        if rule.id in seen:
            raise _Problem(f"rules: id '{rule.id}' is used twice")
        seen.add(rule.id)
        variants: list[Variant] = []
        for phrase in [*rule.keywords, *rule.phrases]:
            single = phrase in rule.keywords
            where = f"rule '{rule.id}' {'keyword' if single else 'phrase'} '{phrase}'"
            variants.extend(compiler.compile(phrase, rule.fuzzy, where, single_word=single))
        if rule.language is not None and rule.language not in parsed.language_lines:
            raise _Problem(f"rule '{rule.id}': language '{rule.language}' has no line under language_lines")
        rules.append(RuleSpec(rule.id, rule.kind, tuple(dict.fromkeys(variants)), rule.language))
    sound_alikes: dict[str, str] = {}
    for typed, meant in parsed.sound_alikes.items():
        heard, said = simplify(typed).strip(), simplify(meant).strip()
        if not (_WORD.fullmatch(heard) and _WORD.fullmatch(said)):
            raise _Problem(f"sound_alikes: '{typed}: {meant}' must map one word to one word")
        sound_alikes[heard] = said
    for code, line in parsed.language_lines.items():
        if not re.fullmatch(_ID, code) or not line.strip() or "\n" in line.strip():
            raise _Problem(f"language_lines: '{code}' needs a lowercase code and one line of text")
    missing = [kind for kind in REQUIRED_KINDS if not any(r.kind == kind for r in rules)]
    if missing:
        raise _Problem(f"rules: no rule of kind {', '.join(missing)}; every kind needs at least one")
    exceptions: list[ExceptionSpec] = []
    for exc in parsed.exceptions:
        unknown = [rid for rid in exc.suppresses if rid not in seen]
        if unknown:
            raise _Problem(f"exception '{exc.id}': suppresses unknown rule '{unknown[0]}'")
        variants = []
        for phrase in exc.phrases:
            variants.extend(compiler.compile(phrase, False, f"exception '{exc.id}' phrase '{phrase}'"))
        if exc.scope == "message":
            kinds = {rule.id: rule.kind for rule in rules}
            serious = [rid for rid in exc.suppresses if kinds[rid] not in _QUIETENABLE]
            if serious:
                raise _Problem(
                    f"exception '{exc.id}': scope message can only quieten red-flag rules, not '{serious[0]}'"
                )
        exceptions.append(
            ExceptionSpec(
                exc.id, tuple(dict.fromkeys(variants)), frozenset(exc.suppresses), exc.scope == "message"
            )
        )
    return TriggerSpec(
        source, normaliser, tuple(rules), tuple(exceptions), plain, parsed.settings.fuzzy_min_length,
        {code: line.strip() for code, line in parsed.language_lines.items()},
        parsed.settings.short_fuzzy_min_length, sound_alikes,
    )


class _PhraseCompiler:
    """Parses phrase text into variants of slots and gaps, expanding groups and optional slots."""

    def __init__(self, normaliser: Normaliser, groups: Mapping[str, Sequence[str]], max_gap: int) -> None:
        self._normaliser = normaliser
        self._groups = groups
        self._max_gap = max_gap
        self._pieces: dict[tuple[str, bool], tuple[AtomKey, ...]] = {}
        """Each word's atoms, worked out once: group members recur in many phrases (~6,600 pieces, of
        which ~1,900 differ, in the shipped file)."""

    def compile(self, phrase: str, lenient: bool, where: str, single_word: bool = False) -> list[Variant]:
        """Variants of one phrase; a problem is reported with `where` (rule and phrase) in front."""
        try:
            return self._compile(phrase, lenient, single_word)
        except _Problem as exc:
            raise _Problem(f"{where}: {exc}") from None

    def _compile(self, phrase: str, lenient: bool, single_word: bool) -> list[Variant]:
        parts = phrase.split()
        anchored = bool(parts) and parts[-1] == "$" and not single_word
        if anchored:
            parts.pop()
        if not parts:
            raise _Problem("is empty")
        if "$" in parts:
            raise _Problem("'$' (end of sentence) can only come last")
        if single_word and (len(parts) > 1 or any(c in parts[0] for c in "|+?@#")):
            raise _Problem("a keyword must be one word; put longer patterns under phrases")
        elements: list[tuple[Element, bool]] = []
        for part in parts:
            gap = _GAP.fullmatch(part)
            if gap is not None:
                size = int(gap.group(1)) if gap.group(1) else 3
                if not 1 <= size <= self._max_gap:
                    raise _Problem(f"gap '{part}' must be between ..1 and ..{self._max_gap}")
                if elements and isinstance(elements[-1][0], int):
                    raise _Problem("two gaps in a row")
                elements.append((size, False))
                continue
            optional = part.endswith("?")
            body = part[:-1] if optional else part
            elements.append((self._slot(body, lenient), optional))
        if isinstance(elements[0][0], int) or isinstance(elements[-1][0], int):
            raise _Problem("cannot start or end with a gap")
        optional_count = sum(1 for _, opt in elements if opt)
        if optional_count > _MAX_OPTIONAL:
            raise _Problem(f"has {optional_count} optional slots; at most {_MAX_OPTIONAL} are allowed")
        if all(opt for element, opt in elements if not isinstance(element, int)):
            raise _Problem("needs at least one slot that is not optional")
        return [(*variant, END) if anchored else variant for variant in _expand(elements)]

    def _slot(self, body: str, lenient: bool, in_group: bool = False) -> Slot:
        if not body or body.startswith("|") or body.endswith("|") or "||" in body:
            raise _Problem(f"'{body}' has an empty alternative")
        alternatives: list[Alternative] = []
        for alt in body.split("|"):
            if alt.startswith("@"):
                if in_group:
                    raise _Problem(f"group member '{alt}' cannot refer to another group")
                members = self._groups.get(alt[1:])
                if not members:
                    raise _Problem(f"unknown or empty group '{alt}'")
                for member in members:
                    alternatives.extend(self._slot(member, lenient, in_group=True))
                continue
            atoms: list[AtomKey] = []
            for piece in alt.split("+"):
                atoms.extend(self._piece(piece, lenient))
            alternatives.append(tuple(atoms))
        return tuple(dict.fromkeys(alternatives))

    def _piece(self, piece: str, lenient: bool) -> tuple[AtomKey, ...]:
        atoms = self._pieces.get((piece, lenient))
        if atoms is None:
            atoms = self._pieces[piece, lenient] = self._atoms(piece, lenient)
        return atoms

    def _atoms(self, piece: str, lenient: bool) -> tuple[AtomKey, ...]:
        if piece == "#":
            return (("n", ""),)
        at_least = _AT_LEAST.fullmatch(piece)
        if at_least is not None:
            return (("g", at_least.group(1)),)
        if piece.endswith("*"):
            words = self._normaliser.tokens(piece[:-1])
            if len(words) != 1 or len(words[0]) < _MIN_PREFIX or _DIGIT.search(words[0]) is not None:
                raise _Problem(f"prefix '{piece}' needs at least {_MIN_PREFIX} letters before the *")
            return (("p", words[0]),)
        words = self._normaliser.tokens(piece)
        if not words or any(not _WORD.fullmatch(w) for w in words):
            raise _Problem(f"'{piece}' is not a word")
        return tuple(("w" if lenient and _DIGIT.search(w) is None else "x", w) for w in words)


def _expand(elements: list[tuple[Element, bool]]) -> list[Variant]:
    """Every combination of optional slots present or absent, with gaps tidied up."""
    optional_at = [i for i, (_, opt) in enumerate(elements) if opt]
    variants: list[Variant] = []
    for dropped in itertools.product((False, True), repeat=len(optional_at)):
        drop = {i for i, d in zip(optional_at, dropped, strict=True) if d}
        kept: list[Element] = []
        for i, (element, _) in enumerate(elements):
            if i in drop:
                continue
            if isinstance(element, int) and kept and isinstance(kept[-1], int):
                kept[-1] = kept[-1] + element
            else:
                kept.append(element)
        while kept and isinstance(kept[0], int):
            kept.pop(0)
        while kept and isinstance(kept[-1], int):
            kept.pop()
        if kept:
            variants.append(tuple(kept))
    return list(dict.fromkeys(variants))
