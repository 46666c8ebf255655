"""Match normalised tokens against compiled trigger phrases, fast and with bounded work.

Every message is checked, including long or hostile ones, so the work per message is kept
small and predictable: each token is looked up once in hash indexes (exact word, collapsed
doubles, prefix, one-edit misspelling), and a phrase is only tried at positions where its first
word occurs and only when all of its words occur somewhere near. Gaps are a few words at most, so
trying a phrase at one position is bounded too.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from coachbot.care.textnorm import deletions, skeleton
from coachbot.care.trigger_rules import END, KINDS, AtomKey, TriggerSpec, Variant

_NONE: frozenset[int] = frozenset()
_MIN_SKELETON = 3  # a shorter skeleton would merge real words ("wee" and "we")
_MIN_CENSORED = 3  # "d*e" may hide "die"; shorter words are too ambiguous
_PREFIX_KEY = 4  # prefixes are indexed by their first letters (trigger_rules enforces 4+)
_CACHE_LIMIT = 20_000
# Words that usually open a new clause in unpunctuated texting ("i cant go on i'm so tired"):
# a phrase that must end a sentence (`$`) may also end right before one of them.
_CLAUSE_OPENERS = frozenset({"i", "but", "because", "so", "honestly", "please"})
# Keys next to each other on a QWERTY keyboard, and the vowels (with y) people swap by ear: the slips
# a short word plausibly suffers ("dei", "dye", "kol").
_NEAR_KEYS = {
    "q": "wa", "w": "qeas", "e": "wrsd", "r": "etdf", "t": "ryfg", "y": "tugh", "u": "yihj", "i": "uojk",
    "o": "ipkl", "p": "ol", "a": "qwsz", "s": "awedxz", "d": "serfcx", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "j": "huikmn", "k": "jiolm", "l": "kop", "z": "asx", "x": "zsdc", "c": "xdfv",
    "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}
_VOWELS = "aeiouy"
_SLIP_KINDS = frozenset({"overdose", "self_harm", "crisis"})
"""Kinds whose short words get guarded slip readings: a missed crisis costs most, and their phrases
are the ones typed in distress."""

# A slot: ids any one of which fills it as a single word, plus multi-word alternatives.
Slot = tuple[frozenset[int], tuple[tuple[int, ...], ...]]
Element = int | Slot  # an int is a gap of up to that many words


class Lexicon:
    """Maps one normalised token to the ids of every phrase word it can stand for."""

    def __init__(self, spec: TriggerSpec, atoms: Mapping[AtomKey, int]) -> None:
        # Some 40,000 keys map to a few thousand distinct id sets: each index holds one shared frozenset
        # per distinct set, built so (`_add`) without a set per key, which would take some 10 MB more
        # of the bot's resident memory (`bench.memory`).
        shared: dict[frozenset[int], frozenset[int]] = {}
        self.exact: dict[str, frozenset[int]] = {}
        self.weak: dict[str, frozenset[int]] = {}
        """Guarded readings of short words: one slip ("dei") or a sound-alike ("dye"). Their ids are
        only accepted after a phrase's first word (see `compile_variant`), never on their own."""
        self.doublings: dict[str, frozenset[int]] = {}
        self.fuzzy: dict[str, frozenset[int]] = {}
        self.censored: dict[str, frozenset[int]] = {}
        exact, weak, doublings, fuzzy, censored = (
            self.exact, self.weak, self.doublings, self.fuzzy, self.censored)
        self.sound_alikes = spec.sound_alikes
        self.prefixes: dict[str, list[tuple[str, frozenset[int]]]] = {}
        self.number: int | None = None
        self.at_least: list[tuple[int, int]] = []  # (smallest number, id) for `#minN`
        self.plain = spec.plain_words
        self._text_of = {atom: text for (_, text), atom in atoms.items()}
        prefix_atoms: dict[str, frozenset[int]] = {}
        fuzzy_words: set[str] = set()
        for (mode, text), atom in atoms.items():
            if mode == "n":
                self.number = atom
            elif mode == "g":
                self.at_least.append((int(text), atom))
            elif mode == "p":
                _add(prefix_atoms, text, atom, shared)
            elif mode != "s":
                _add(exact, text, atom, shared)
                if len(text) >= _MIN_CENSORED:
                    for variant in deletions(text):
                        _add(censored, variant, atom, shared)
                if mode == "w" and len(skeleton(text)) >= _MIN_SKELETON:
                    for variant in _doublings(text):
                        _add(doublings, variant, atom, shared)
                if mode == "w" and len(text) >= spec.fuzzy_min_length:
                    fuzzy_words.add(text)
                    for variant in [text, *deletions(text)]:
                        _add(fuzzy, variant, atom, shared)
        weak_atoms = {text: atom for (mode, text), atom in atoms.items() if mode == "s"}
        for text, atom in weak_atoms.items():
            for variant in short_slips(text):
                if variant not in exact and variant not in self.plain:
                    _add(weak, variant, atom, shared)
        for typed, meant in spec.sound_alikes.items():
            if meant in weak_atoms:
                _add(weak, typed, weak_atoms[meant], shared)
        for text, ids in prefix_atoms.items():
            self.prefixes.setdefault(text[:_PREFIX_KEY], []).append((text, frozenset(ids)))
        # A one-edit typo of a 6+ letter word keeps its first two letters or its last three, and
        # also its first three or its last two: a cheap test that skips most tokens.
        self.heads2 = frozenset(w[:2] for w in fuzzy_words)
        self.heads3 = frozenset(w[:3] for w in fuzzy_words)
        self.tails2 = frozenset(w[-2:] for w in fuzzy_words)
        self.tails3 = frozenset(w[-3:] for w in fuzzy_words)
        longest = max(map(len, fuzzy_words), default=0)
        self.fuzzy_lengths = range(spec.fuzzy_min_length - 1, longest + 2)
        self._cache: dict[str, frozenset[int]] = {}

    def lookup(self, token: str) -> frozenset[int]:
        """Ids of the phrase words this token matches (empty for almost every token)."""
        cache = self._cache
        result = cache.get(token)
        if result is not None:
            return result
        hits: list[set[int] | frozenset[int]] = []
        found = self.exact.get(token)
        if found is not None:
            hits.append(found)
        if len(token) >= _PREFIX_KEY:
            prefixes = self.prefixes.get(token[:_PREFIX_KEY])
            if prefixes is not None:
                hits.extend(ids for prefix, ids in prefixes if token.startswith(prefix))
        if token.isdigit():
            if self.number is not None:
                hits.append({self.number})
            if self.at_least and len(token) <= 6:  # longer: a phone number or junk, not a dose
                value = int(token)
                hits.append({atom for least, atom in self.at_least if value >= least})
        if "*" in token:
            censored = self.censored.get(token.replace("*", "")) if token.count("*") == 1 else None
            if censored is not None:
                hits.append(censored)
        elif token not in self.plain:  # a real word is never read as a misspelling of another
            self._misspelt(token, hits)
        weak = self.weak.get(token)
        if weak is not None:
            hits.append(weak)
        result = frozenset().union(*hits) if hits else _NONE
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[token] = result
        return result

    def _misspelt(self, token: str, hits: list[set[int] | frozenset[int]]) -> None:
        """Add ids for a doubled or undoubled letter ("kil", "myselff") and one-edit typos ("suicde")."""
        found = self.doublings.get(token)
        if found is not None:
            hits.append(found)
        size = len(token)
        if (
            size in self.fuzzy_lengths
            and (token[:2] in self.heads2 or token[-3:] in self.tails3)
            and (token[:3] in self.heads3 or token[-2:] in self.tails2)
        ):
            fuzzy = self.fuzzy
            found = fuzzy.get(token)
            if found is not None:
                hits.append(found)
            for i in range(size):
                found = fuzzy.get(token[:i] + token[i + 1 :])
                if found is not None:
                    hits.append(found)

    def misreadings(self, word: str) -> set[str]:
        """Trigger words a real word would be taken for as a misspelling (to curate plain_words).

        Inflections are left out ("testicle" for "testicles"): reading those as the trigger is right.
        """
        hits: list[set[int] | frozenset[int]] = []
        self._misspelt(word, hits)
        if word not in self.sound_alikes:  # those are real words on purpose
            hits.append(self.weak.get(word, set()))
        found = {self._text_of[atom] for ids in hits for atom in ids} - {word}
        return {t for t in found if not (word.startswith(t) or t.startswith(word))}


def _add(index: dict[str, frozenset[int]], key: str, atom: int,
         shared: dict[frozenset[int], frozenset[int]]) -> None:
    """Add `atom` to the ids under `key`, as the one frozenset in `shared` equal to the result."""
    ids = index.get(key, _NONE)
    if atom not in ids:
        grown = ids | {atom}
        index[key] = shared.setdefault(grown, grown)


def _doublings(word: str) -> set[str]:
    """The word with one doubled letter written once, or one letter written twice ("kil", "kiill")."""
    out = set()
    for i in range(len(word)):
        if i + 1 < len(word) and word[i] == word[i + 1]:
            out.add(word[:i] + word[i + 1 :])
        out.add(word[: i + 1] + word[i:])
    return {v for v in out if len(skeleton(v)) >= _MIN_SKELETON}


def short_slips(word: str) -> set[str]:
    """One typing slip in a short word: a neighbouring key or another vowel, two letters swapped, or a
    letter left out (never the first, which people rarely miss)."""
    out = set()
    for i, char in enumerate(word):
        if i > 0:
            out.add(word[:i] + word[i + 1 :])
        for other in _NEAR_KEYS.get(char, "") + (_VOWELS if char in _VOWELS else ""):
            out.add(word[:i] + other + word[i + 1 :])
        if i + 1 < len(word) and char != word[i + 1]:
            out.add(word[:i] + word[i + 1] + char + word[i + 2 :])
    out.discard(word)
    return {v for v in out if len(v) >= 2}


def weak_key(key: AtomKey, short_min: int, long_min: int) -> AtomKey | None:
    """The guarded-reading key of a lenient short Latin word, or None when it gets none."""
    mode, text = key
    if mode == "w" and short_min <= len(text) < long_min and text.isascii() and text.isalpha():
        return ("s", text)
    return None


@dataclass(frozen=True, slots=True)
class Compiled:
    """A phrase variant with words replaced by ids, plus what the cheap pre-checks need."""

    elements: tuple[Element, ...]
    needs: tuple[frozenset[int], ...]  # per slot: ids, one of which must occur in the message
    anchors: frozenset[int]  # ids that can start a match
    last: frozenset[int]  # ids that can start the last slot
    span: int  # the most tokens a match can cover
    anchored: bool  # the match must end where a sentence or the message ends


def compile_variant(
    variant: Variant,
    atoms: dict[AtomKey, int],
    weak: Callable[[AtomKey], AtomKey | None] | None = None,
    strong_last: bool = False,
    shared: dict[frozenset[int], frozenset[int]] | None = None,
) -> Compiled:
    """Swap atom keys for small ints (shared across rules) and precompute the pre-checks.

    With `weak`, single-word slots also accept the guarded readings of their short words, except
    the first slot ("i want to dye"), or with `strong_last` the last one ("kll myself"): one end of
    the phrase must be written as such, which is the risk context that makes the weak reading safe,
    and a keyword (one slot) never matches weakly. Equal id sets are one object when `shared` is
    given (the same few words start thousands of variants).
    """
    pool: dict[frozenset[int], frozenset[int]] = {} if shared is None else shared
    elements: list[Element] = []
    needs: list[frozenset[int]] = []
    span = 0
    anchored = variant[-1] == END
    body = variant[:-1] if anchored else variant
    slots = sum(1 for element in body if not isinstance(element, int))
    for element in body:
        if isinstance(element, int):
            elements.append(element)
            span += element
            continue
        alts = [tuple(atoms.setdefault(a, len(atoms)) for a in alt) for alt in element]
        strong = len(needs) == slots - 1 if strong_last else not needs
        if weak is not None and slots > 1 and not strong:
            extra = [weak(alt[0]) for alt in element if len(alt) == 1]
            alts += [(atoms.setdefault(key, len(atoms)),) for key in extra if key is not None]
        singles = frozenset(alt[0] for alt in alts if len(alt) == 1)
        need = frozenset(alt[0] for alt in alts)
        elements.append((pool.setdefault(singles, singles), tuple(alt for alt in alts if len(alt) > 1)))
        needs.append(pool.setdefault(need, need))
        span += max(len(alt) for alt in alts)
    return Compiled(tuple(elements), tuple(needs), needs[0], needs[-1], span, anchored)


def _match(
    elements: tuple[Element, ...],
    i: int,
    pos: int,
    ids: Sequence[frozenset[int]],
    ends: frozenset[int] | None,
) -> int:
    """End of the first match of elements[i:] at pos, or -1; bounded because gaps are short.

    With `ends`, a match must finish at one of those positions (a sentence or the message ends).
    """
    if i == len(elements):
        return pos if ends is None or pos in ends else -1
    element = elements[i]
    if isinstance(element, int):
        for skip in range(min(element, len(ids) - pos) + 1):
            end = _match(elements, i + 1, pos + skip, ids, ends)
            if end >= 0:
                return end
        return -1
    if pos >= len(ids):
        return -1
    singles, multis = element
    if not singles.isdisjoint(ids[pos]):
        found = _match(elements, i + 1, pos + 1, ids, ends)
        if found >= 0:
            return found
    for alt in multis:
        end = pos + len(alt)
        if end <= len(ids) and all(atom in ids[pos + k] for k, atom in enumerate(alt)):
            found = _match(elements, i + 1, end, ids, ends)
            if found >= 0:
                return found
    return -1


class _Message:
    """One message ready for matching: ids per token, and the sorted positions of each id."""

    __slots__ = ("breaks", "ends", "ids", "positions")

    def __init__(self, ids: list[frozenset[int]], breaks: Sequence[int], openers: Sequence[int]) -> None:
        self.ids = ids
        self.breaks = breaks
        self.ends = frozenset([*breaks, *openers, len(ids)])
        self.positions: dict[int, list[int]] = {}
        for pos, found in enumerate(ids):
            for atom in found:
                self.positions.setdefault(atom, []).append(pos)

    def _near(self, atoms: frozenset[int], start: int, stop: int) -> bool:
        """Whether one of these ids occurs in [start, stop): skips anchors too far from a phrase end."""
        for atom in atoms:
            found = self.positions.get(atom)
            if found is not None:
                i = bisect.bisect_left(found, start)
                if i < len(found) and found[i] < stop:
                    return True
        return False

    def within(self, span: tuple[int, int]) -> bool:
        """Whether the span stays inside one sentence."""
        start, end = span
        i = bisect.bisect_right(self.breaks, start)
        return i == len(self.breaks) or self.breaks[i] >= end

    def spans(self, variant: Compiled) -> Iterator[tuple[int, int]]:
        """Every (start, end) where the variant matches, first match per start."""
        present = self.positions.keys()
        if any(need.isdisjoint(present) for need in variant.needs):
            return
        starts = sorted({p for a in variant.anchors if a in present for p in self.positions[a]})
        multi = len(variant.needs) > 1
        for start in starts:
            if multi and not self._near(variant.last, start + 1, start + variant.span):
                continue
            end = _match(variant.elements, 0, start, self.ids, self.ends if variant.anchored else None)
            if end >= 0:
                yield start, end


class Matcher:
    """All rules compiled and indexed; `scan` yields (kind, rule id) in priority order."""

    def __init__(self, spec: TriggerSpec) -> None:
        atoms: dict[AtomKey, int] = {}
        order = {kind: n for n, kind in enumerate(KINDS)}
        ranked = sorted(spec.rules, key=lambda r: order[r.kind])

        def weak(key: AtomKey) -> AtomKey | None:
            return weak_key(key, spec.short_fuzzy_min_length, spec.fuzzy_min_length)

        shared: dict[frozenset[int], frozenset[int]] = {}  # equal id sets as one object: less memory
        self._rules = []
        for spec_rule in ranked:
            variants = [compile_variant(v, atoms, shared=shared) for v in spec_rule.variants]
            if spec_rule.kind in _SLIP_KINDS:
                for strong_last in (False, True):
                    variants += [compile_variant(v, atoms, weak, strong_last, shared)
                                 for v in spec_rule.variants]
            self._rules.append((spec_rule.kind, spec_rule.id, spec_rule.language,
                                tuple(dict.fromkeys(variants))))
        self._anchors: dict[int, list[tuple[int, int]]] = {}
        for r, (_, _, _, rule_variants) in enumerate(self._rules):
            for v, variant in enumerate(rule_variants):
                for atom in variant.anchors:
                    self._anchors.setdefault(atom, []).append((r, v))
        self._shields: dict[str, list[tuple[Compiled, bool]]] = {}  # rule id -> idioms that may hide it
        for exc in spec.exceptions:
            shields = [(compile_variant(v, atoms, shared=shared), exc.message_wide) for v in exc.variants]
            for rule_id in exc.suppresses:
                self._shields.setdefault(rule_id, []).extend(shields)
        self.lexicon = Lexicon(spec, atoms)

    def scan(
        self, tokens: Sequence[str], breaks: Sequence[int] = ()
    ) -> Iterator[tuple[str, str, str | None]]:
        """(kind, rule id, language) for every rule with a match no idiom exception covers.

        `breaks` are token indexes where a sentence starts: an idiom never spans one, so an idiom
        at the end of one sentence cannot hide a disclosure at the start of the next.
        """
        lookup = self.lexicon.lookup
        openers = [i for i, token in enumerate(tokens) if token in _CLAUSE_OPENERS]
        message = _Message([lookup(t) for t in tokens], breaks, openers)
        candidates: dict[int, set[int]] = {}
        for atom in message.positions:
            for r, v in self._anchors.get(atom, ()):
                candidates.setdefault(r, set()).add(v)
        for r in sorted(candidates):
            kind, rule_id, language, variants = self._rules[r]
            if self._fires(message, rule_id, [variants[v] for v in sorted(candidates[r])]):
                yield kind, rule_id, language

    def _fires(self, message: _Message, rule_id: str, variants: list[Compiled]) -> bool:
        """Whether some match of these variants is not wholly inside an idiom exception's span."""
        shields: list[tuple[int, int]] | None = None
        for variant in variants:
            for start, end in message.spans(variant):
                if shields is None:
                    shields = self._shielded(message, rule_id)
                if not any(a <= start and end <= b for a, b in shields):
                    return True
        return False

    def _shielded(self, message: _Message, rule_id: str) -> list[tuple[int, int]]:
        """Spans of idioms that may hide this rule's hits, each within one sentence; a message-wide
        reassurance found anywhere covers the whole message."""
        idioms = self._shields.get(rule_id, ())
        spans = []
        for idiom, message_wide in idioms:
            for span in message.spans(idiom):
                if message_wide:
                    return [(0, len(message.ids))]
                if message.within(span):
                    spans.append(span)
        return spans
