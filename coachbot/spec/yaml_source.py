"""Reading a dialog file: YAML text -> plain data for pydantic, plus where every key sits.

The round-trip loader is used (not the faster safe one) because it remembers the line and column of
every key and list item; that is what lets a schema error or a semantic problem point the admin at
the right line. It also reads YAML 1.2, where `on:`, `yes` and `no` stay plain strings.

When `coachbot run` has turned on the parsed-file cache (`enable_parse_cache`, see `parsed_cache`),
a file parsed before with the same bytes gets its data from there, and its round-trip tree is parsed
only if something asks where a key sits, that is, only when there is a problem to report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import __version__ as ruamel_version
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from coachbot.spec import parsed_cache
from coachbot.spec.problems import DialogError, Problem

MAX_BYTES = 1024 * 1024
"""Dialog files are a few kilobytes; anything past a mebibyte is a mistake (a pasted log, a binary)."""

Loc = Sequence[str | int]

_ALIASES = {"on": "routes", "routes": "on", "in": "in_", "in_": "in", "not": "not_", "not_": "not"}
"""pydantic names fields by alias (`on`) but admins may use the field name (`routes`) or vice versa."""

_SYNTAX_FIXES = (
    ("found character '\\t'", "indent with spaces, not tabs."),
    ("mapping values are not allowed", "put a value that contains ': ' in quotes, or fix the indentation."),
    ("could not find expected ':'", "write each entry as `key: value`, and check the line above."),
    ("expected <block end>", "line this up with the keys above it (the indentation is off)."),
    ("found undefined alias", "define the &anchor before using *alias, or put the text in quotes."),
    ("expected a single document", "keep one document per file (remove the extra ---)."),
    ("while parsing a flow", "close every [ and { that was opened, and put text with commas in quotes."),
)


_UNPARSED = object()


@dataclass(frozen=True)
class YamlDocument:
    """A parsed file: the plain data to validate and the marked-up tree to find lines in."""

    label: str
    """How problems name the file, e.g. `dialogs/onboarding.yaml`."""
    raw: bytes
    text: str
    data: Any
    _tree: Any = field(default=_UNPARSED, repr=False, compare=False)
    """The round-trip tree, or _UNPARSED when the data came from the parsed-file cache."""

    @property
    def tree(self) -> Any:
        """The round-trip tree (ruamel's commented containers, which know their lines), parsed on
        first use when the data came from the cache."""
        if self._tree is _UNPARSED:
            object.__setattr__(self, "_tree", _round_trip(self.text, self.label))
        return self._tree

    def line_of(self, loc: Loc) -> int:
        """The 1-based line of the node at `loc` (keys and list indexes, as in pydantic's
        `error["loc"]`), or of its closest ancestor that exists when the node itself does not
        (a missing key, a pydantic union tag such as `int`)."""
        node = self.tree
        line = _node_line(node)
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            node, position = found
            if position is not None:
                line = position + 1
        return line


def read_yaml(path: Path, label: str) -> YamlDocument:
    """Read and parse one file, or raise DialogError with a single problem saying why it cannot be.

    The size is checked before reading so a huge file costs nothing."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DialogError([Problem(
            label, None, None, None,
            f"the file is {size:,} bytes, larger than the 1 MiB a dialog file may be, so it was not read.",
            "split it into several scripts or blocks, or check that the right file was saved here.")])
    raw = path.read_bytes()
    return parse_yaml(raw, label)


def parse_yaml(raw: bytes, label: str) -> YamlDocument:
    """Parse bytes already in memory (see `read_yaml`); syntax errors and duplicate keys become a
    problem with the line they are on."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DialogError([Problem(label, line, None, None, "this file is not UTF-8 text.",
                                   "save it as UTF-8 (most editors offer this under 'Save as').")]) from None
    parsed: list[Any] = []

    def parse() -> Any:
        parsed.append(_round_trip(text, label))
        return to_plain(parsed[0])

    data = parsed_cache.cached("round-trip", raw, parse)
    return YamlDocument(label, raw, text, data, parsed[0] if parsed else _UNPARSED)


def load_safe(text: str) -> Any:
    """`text` through ruamel's safe loader (plain data, no line numbers), via the parsed-file cache
    when it is on; raises ruamel's YAMLError as the loader does."""
    return parsed_cache.cached("safe", text.encode(), lambda: YAML(typ="safe").load(text))


def enable_parse_cache(folder: Path | None) -> None:
    """Turn the parsed-file cache on in `folder` (None: off) for everything parsed here. The results
    are tied to ruamel's version and to the source of this module and of `parsed_cache`, so a change
    to either never reads what the old code kept."""
    digest = hashlib.sha256(ruamel_version.encode())
    for module in (__file__, parsed_cache.__file__):
        try:
            digest.update(b"\0" + Path(module).read_bytes())
        except OSError:  # no source to tell versions apart by: better no cache than a stale one
            folder = None
    parsed_cache.enable(folder, digest.hexdigest().encode())


def _round_trip(text: str, label: str) -> Any:
    """The round-trip tree of `text`; syntax errors and duplicate keys become a problem with the line
    they are on."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        raise DialogError([_duplicate_key_problem(exc, text, label)]) from None
    except MarkedYAMLError as exc:
        raise DialogError([_syntax_problem(exc, label)]) from None
    except YAMLError as exc:
        raise DialogError([Problem(label, None, None, None, f"this is not valid YAML: {exc}",
                                   "check the indentation and quoting.")]) from None


def to_plain(node: Any) -> Any:
    """ruamel's commented containers and scalar subclasses as plain dicts, lists, str, int, float,
    bool, so pydantic sees exactly what a JSON document would give it."""
    if isinstance(node, CommentedMap | dict):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq | list | tuple):
        return [to_plain(v) for v in node]
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    line = getattr(lc, "line", None)
    return line + 1 if isinstance(line, int) else 1


def _child(node: Any, part: str | int) -> tuple[Any, int | None] | None:
    """The child at `part` and the 0-based line of its key or item, or None when there is none."""
    if isinstance(node, CommentedMap):
        for key in (part, _ALIASES.get(part) if isinstance(part, str) else None):
            if key is not None and key in node:
                return node[key], _lc_line(node, key, is_item=False)
        return None
    if isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
        return node[part], _lc_line(node, part, is_item=True)
    return None


def _lc_line(node: CommentedMap | CommentedSeq, key: Any, *, is_item: bool) -> int | None:
    """Position data may be missing for keys that came in through a `<<:` merge."""
    try:
        position = node.lc.item(key) if is_item else node.lc.key(key)
    except (KeyError, TypeError, IndexError):
        return None
    return int(position[0]) if position else None


def _mark_line(exc: MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else None


def _syntax_problem(exc: MarkedYAMLError, label: str) -> Problem:
    problem = str(exc.problem or exc.context or "the text cannot be read").strip().removeprefix("but ")
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    said = f"{exc.problem} {exc.context}"
    fix = next((f for marker, f in _SYNTAX_FIXES if marker in said),
               "check the indentation and quoting on this line and the line above.")
    return Problem(label, _mark_line(exc), None, None, f"this is not valid YAML: {problem}{context}.", fix)


def _duplicate_key_problem(exc: DuplicateKeyError, text: str, label: str) -> Problem:
    line = _mark_line(exc)
    match = re.search(r'found duplicate key "(.*?)" with value', str(exc.problem or ""))
    key = match.group(1) if match else "a key"
    first = _first_occurrence(exc, text, key)
    where = f" (first on line {first})" if first else ""
    return Problem(label, line, None, None,
                   f"'{key}' appears twice in the same mapping{where}; YAML would silently keep only one.",
                   f"keep one '{key}:' (merge the two, or rename one if they are different things).")


def _first_occurrence(exc: DuplicateKeyError, text: str, key: str) -> int | None:
    """The line of the first `key:` at the duplicate's indentation, searching from the mapping's
    start: the error itself only marks the second one."""
    start, dup = exc.context_mark, exc.problem_mark
    if start is None or dup is None:
        return None
    lines = text.splitlines()
    column = dup.column
    for number in range(start.line, min(dup.line, len(lines))):
        candidate = lines[number]
        before, after = candidate[:column], candidate[column:]
        if before.strip(" -") == "" and re.match(rf"['\"]?{re.escape(key)}['\"]?\s*:", after):
            return number + 1
    return None
