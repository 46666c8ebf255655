"""Turn a patient's message into plain lowercase word tokens before trigger matching.

People in distress type fast, misspell, use texting forms and leetspeak, stretch words
("nooooo") and sometimes disguise words ("su1c1de", "s*icide", "k i l l"). Every one of those
must reach the matcher in the same form as the trigger phrases, which are run through the very
same normaliser when the trigger file is compiled. Only linear-time regexes are used, so hostile
or very long input cannot cause catastrophic backtracking.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Cyrillic and Greek letters that look Latin, mapped to the Latin letter they imitate.
_LOOK_ALIKE = (
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445\u0456\u0457"
    "\u0458\u0455\u0501\u0261\u03b1\u03b5\u03b9\u03ba\u03bf\u03c1\u03c4\u03c5\u03bd\u03c7\u0475"
)
_AS_LATIN = "abeekmhopctyxiijsdgaeikoptuvxv"
# Apostrophes (so "can't" and "cant" are one token).
_DROPPED = "\u0027\u2019\u2018\u02bc\u0060\u00b4\u0640"  # and the Arabic tatweel (a letter stretcher)
# Letters NFKD leaves whole, folded to the form trigger phrases are written in: Polish l with stroke,
# Turkish dotless i; in Arabic script the Arabic yeh, kaf and heh to the Urdu ones, and noon ghunna to noon
# (keyboards differ, and people type whichever is nearer).
_FOLD_FROM = "\u0142\u0131\u064a\u0649\u0643\u0647\u06c3\u06ba"
_FOLD_TO = "li\u06cc\u06cc\u06a9\u06c1\u06c1\u0646"
_LOOKALIKES = str.maketrans(_LOOK_ALIKE + _FOLD_FROM, _AS_LATIN + _FOLD_TO, _DROPPED)


def _format_characters() -> dict[int, None]:
    """Every invisible format character (Unicode category Cf: zero-width spaces and joiners, soft
    hyphen, word joiner, byte-order mark, bidirectional controls, tags...), mapped to nothing.

    One of them inside a word ("sui\u200bcide") must not hide it. Cf characters are only assigned in
    planes 0, 1 and 14, so only those are scanned (a full scan would cost ~0.15 s at every start).
    """
    planes = (range(0x10000), range(0x10000, 0x20000), range(0xE0000, 0xE1000))
    return {c: None for plane in planes for c in plane if unicodedata.category(chr(c)) == "Cf"}


_INVISIBLE = _format_characters()
# Contractions become whole words ("he'll" must not read as "hell"; "life's" is "life is").
_CONTRACTION = re.compile("[\u0027\u2019\u02bc](ll|d|ve|re|m|s)\\b")
_EXPANDED = {"ll": " will", "d": " would", "ve": " have", "re": " are", "m": " am", "s": " is"}
# Marks dropped after NFKD: Latin accents; Arabic-script vowel marks (harakat, superscript alef), which
# Urdu writers mostly leave out; Gurmukhi nasal marks (bindi, tippi), gemination (addak) and nukta,
# which are typed inconsistently ("ਖ਼ੁਦਕੁਸ਼ੀ" and "ਖੁਦਕੁਸੀ" are one word to a reader).
_COMBINING = re.compile(
    r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
    r"\u064b-\u065f\u0670\u0a01\u0a02\u0a3c\u0a70\u0a71]"
)
# Letters of a word: Latin (after folding), digits, and the Arabic-script (Urdu) and Gurmukhi
# (Panjabi) letters and vowel signs, so crisis phrases in those scripts reach the matcher as words.
WORD_CHARS = (
    "a-z0-9\u0621-\u063a\u0641-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff"
    "\u0a05-\u0a4d\u0a59-\u0a5e\u0a72-\u0a74"
)
"""A regex character class body (no brackets) of the characters a normalised word is made of."""
# A raw token: letters, digits and the symbols that leetspeak or self-censoring put inside words;
# or a mark that ends a sentence ("!" ends one when it ends a token: "help!", but not "k!ll").
_RAW_TOKEN = re.compile(f"[{WORD_CHARS}@$!*]+")
# Sentence marks include the Urdu full stop, comma, semicolon and question mark and the Gurmukhi danda.
_PIECE = re.compile(f"[{WORD_CHARS}@$!*]+|[.?;:,\n\u06d4\u060c\u061b\u061f\u0964\u0965]")
_SENTENCE_MARKS = frozenset(".?;:,\n\u06d4\u060c\u061b\u061f\u0964\u0965")
# Three or more single letters with the same separator ("k i l l", "s.u.i.c.i.d.e"). Linear: each
# repeat is one fixed separator and one letter, and a failed end backs off by one repeat at most.
_SPELLED_OUT = re.compile(r"(?<![a-z0-9@$!*])[a-z]([^a-z0-9@$!*]{1,3})[a-z](?:\1[a-z])+(?![a-z0-9@$!*])")
_NOT_LETTER = re.compile(r"[^a-z]")
_LEADING_NUMBER = re.compile(r"(\d+)([a-z@$].*)")
_LONG_RUN = re.compile(r"([a-z])\1{2,}")
_BEFORE_SAME = re.compile(r"(.)(?=\1)")  # a character followed by the same one
_LETTERS = re.compile(r"[a-z]")
_LEET_CHARS = frozenset("013457@$!")
_LEET = str.maketrans("013457@$!", "oieastasi")
_EDGE_SYMBOLS = "!*@$"
_STANDALONE = "ia"  # "I" and "a" next to a spelled-out word are kept as words of their own
_CACHE_LIMIT = 20_000


def simplify(text: str) -> str:
    """Fold case, accents, full-width forms and look-alike letters into plain lowercase ASCII-ish text."""
    if not text.isascii():
        text = text.translate(_INVISIBLE)
    folded = _COMBINING.sub("", unicodedata.normalize("NFKD", text).casefold())
    return _CONTRACTION.sub(_expand, folded).translate(_LOOKALIKES)


def _expand(match: re.Match[str]) -> str:
    """The word a contraction stands for, as its own token."""
    return _EXPANDED[match.group(1)]


def skeleton(word: str) -> str:
    """Collapse every run of a repeated character, so "kil", "kill" and "killl" compare equal."""
    return _BEFORE_SAME.sub("", word)


def deletions(word: str) -> list[str]:
    """Every string made by deleting one character: the basis of cheap edit-distance-1 lookups."""
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


def _join_spelled_out(match: re.Match[str]) -> str:
    """Join single letters back into one word, leaving a leading or trailing "I" or "a" apart."""
    letters = _NOT_LETTER.sub("", match.group())
    head = letters[0] if letters[0] in _STANDALONE and len(letters) > 3 else ""
    tail = letters[-1] if letters[-1] in _STANDALONE and len(letters) - len(head) > 3 else ""
    return f" {head} {letters[len(head) : len(letters) - len(tail)]} {tail} "


class Normaliser:
    """Turns text into tokens; `aliases` maps texting forms ("cant", "wanna", "2") to words."""

    __slots__ = ("_aliases", "_cache")

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self._aliases: dict[str, tuple[str, ...]] = {}
        for key, value in aliases.items():
            words = tuple(w for raw in _RAW_TOKEN.findall(simplify(value)) for w in self._base(raw))
            self._aliases[key] = words
        self._cache: dict[str, tuple[str, ...]] = {}

    def tokens(self, text: str) -> list[str]:
        """The message as a list of normalised word tokens (never raises on any string)."""
        return self.split(text)[0]

    def split(self, text: str) -> tuple[list[str], list[int]]:
        """Tokens, and the token indexes where a new sentence starts (idiom exceptions stop there)."""
        plain = _LONG_RUN.sub(r"\1\1", simplify(text))
        if _SPELLED_OUT.search(plain) is not None:
            plain = _SPELLED_OUT.sub(_join_spelled_out, plain)
        aliases = self._aliases
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[str] = []
        breaks: list[int] = []
        for piece in _PIECE.findall(plain):
            if piece.isalpha():  # plain letters: the common case needs no more than an alias look-up
                alias = aliases.get(piece)
                if alias is None:
                    out.append(piece)
                else:
                    out.extend(alias)
                continue
            if piece not in _SENTENCE_MARKS:
                words = cache.get(piece)
                if words is None:
                    words = self._token(piece)
                    cache[piece] = words
                out.extend(words)
                if not piece.endswith("!"):
                    continue
            if out and (not breaks or breaks[-1] != len(out)):
                breaks.append(len(out))
        return out, breaks

    @staticmethod
    def _base(token: str) -> tuple[str, ...]:
        """Normalise one raw token without aliases: trim symbols, split "40degrees", undo leetspeak."""
        token = token.strip(_EDGE_SYMBOLS) if token[0] != "$" else token.rstrip(_EDGE_SYMBOLS)
        if not token or token.isdigit():
            return (token,) if token else ()
        if token[0].isdigit():
            lead = _LEADING_NUMBER.fullmatch(token)
            if lead is not None:
                return (lead.group(1), *Normaliser._base(lead.group(2)))
        if not _LEET_CHARS.isdisjoint(token) and _LETTERS.search(token):
            token = token.translate(_LEET)
        return (token,)

    def _token(self, token: str) -> tuple[str, ...]:
        """Normalise one raw token with digits or symbols, then expand known texting forms."""
        alias = self._aliases.get(token)
        if alias is not None:
            return alias
        out: list[str] = []
        for word in self._base(token):
            out.extend(self._aliases.get(word, (word,)))
        return tuple(out)
