"""Reading an admin file: YAML text -> plain data for pydantic, plus the line of every key.

PyYAML's LibYAML binding (C) composes the file into nodes, which keep their line numbers; this module
then builds the data from the nodes itself. No YAML constructor runs, so a file can only ever give
text, whole numbers, numbers, true/false, null, lists and mappings: a `!!python/object` tag (or any
other tag) is refused, not obeyed. Plain values are read as YAML 1.2 reads them (its core schema),
as the files always have been: `on:`, `yes`, `no` and `09:00` stay text, where YAML 1.1 (PyYAML's
own default resolver) would make them true, true, false and 540.

An admin file is small and written by hand, so anything else is refused with one problem naming the
file and line, never a crash and never a long wait: a file over MAX_BYTES, nesting deeper than
MAX_DEPTH, more than MAX_VALUES values once every `*alias` is expanded (a "billion laughs" file
expands a few hundred bytes to gigabytes), a number with more than MAX_DIGITS digits, a key that
is not a plain value, a key given twice in one mapping.

Without LibYAML (PyYAML built without it) the same reading is done by PyYAML's pure-Python parser,
about twenty times slower; its composer recurses once per level, so there the nesting is measured
from the parser's events before composing. LibYAML itself refuses nesting beyond 1,000 levels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

from coachbot.spec.problems import DialogError, Problem

MAX_BYTES = 1024 * 1024
"""Dialog files are a few kilobytes; anything past a mebibyte is a mistake (a pasted log, a binary)."""
MAX_DEPTH = 64
"""The shipped files nest about ten levels deep (states, a state, on:, a route, nested conditions)."""
MAX_VALUES = 100_000
"""The largest shipped file (triggers.yaml) holds about 1,500; an alias counts every time it is used."""
MAX_DIGITS = 20
"""A whole number in a file counts days, minutes or points; twenty digits is already past 64 bits."""

Loc = Sequence[str | int]

_ALIASES = {"on": "routes", "routes": "on", "in": "in_", "in_": "in", "not": "not_", "not_": "not"}
"""pydantic names fields by alias (`on`) but admins may use the field name (`routes`) or vice versa."""

_SYNTAX_FIXES = (
    ("found character '\\t'", "indent with spaces, not tabs."),
    ("found character that cannot start any token", "indent with spaces, not tabs, and put text that "
                                                    "starts with @ or ` in quotes."),
    ("mapping values are not allowed", "put a value that contains ': ' in quotes, or fix the indentation."),
    ("could not find expected ':'", "write each entry as `key: value`, and check the line above."),
    ("expected <block end>", "line this up with the keys above it (the indentation is off)."),
    ("found undefined alias", "define the &anchor before using *alias, or put the text in quotes."),
    ("expected a single document", "keep one document per file (remove the extra ---)."),
    ("while parsing a flow", "close every [ and { that was opened, and put text with commas in quotes."),
)

_CORE = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_CORE + name for name in ("str", "null", "bool", "int", "float"))
_SEQ, _MAP = _CORE + "seq", _CORE + "map"
_NULL_TEXT = re.compile(r"~|null|Null|NULL|")
_BOOL_TEXT = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT_TEXT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_TEXT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CORE_SCHEMA = (  # YAML 1.2's core schema, in the order the resolver tries them (ints before floats)
    (_NULL, _NULL_TEXT, "~nN"), (_BOOL, _BOOL_TEXT, "tTfF"), (_INT, _INT_TEXT, "-+0123456789"),
    (_FLOAT, _FLOAT_TEXT, "-+0123456789."))
_PLAIN = "only text, numbers, true/false, lists and mappings"


def _core_schema_loader(name: str, base: type[Any]) -> type[Any]:
    """`base` (a loader with PyYAML's bare resolver, which reads every plain value as text) taught
    YAML 1.2's core schema; the resolvers are added to the new class only, never to PyYAML's own."""
    doc = f"{base.__name__} resolving plain values as YAML 1.2 does."
    loader: Any = type(name, (base,), {"__doc__": doc})
    for tag, pattern, first in _CORE_SCHEMA:
        loader.add_implicit_resolver(tag, re.compile(f"^(?:{pattern.pattern})$"),
                                     [*first, ""] if tag == _NULL else list(first))
    return loader


PURE_LOADER = _core_schema_loader("PureLoader", yaml.BaseLoader)
LOADER = _core_schema_loader("FastLoader", yaml.CBaseLoader) if hasattr(yaml, "CBaseLoader") else PURE_LOADER
"""LibYAML's parser when PyYAML has it, else the pure-Python one."""


class RefusedYaml(yaml.MarkedYAMLError):
    """Well-formed YAML that this reader will not turn into data, with what to do about it."""

    def __init__(self, mark: yaml.Mark | None, problem: str, fix: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


@dataclass(frozen=True)
class YamlDocument:
    """A read file: the plain data to validate, and its nodes to find lines in."""

    label: str
    """How problems name the file, e.g. `dialogs/onboarding.yaml`."""
    raw: bytes
    text: str
    data: Any
    node: yaml.Node | None = None
    """The composed root node (None for an empty file): every node knows its `start_mark.line`."""

    def line_of(self, loc: Loc) -> int:
        """The 1-based line of the node at `loc` (keys and list indexes, as in pydantic's
        `error["loc"]`), or of its closest ancestor that exists when the node itself does not
        (a missing key, a pydantic union tag such as `int`). For a mapping entry, its key's line."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            key, node = found
            line = key.start_mark.line + 1
        return line

    def within(self, loc: Loc) -> YamlDocument:
        """The part of this document at `loc`, with the same file and lines, for validating one piece
        (say, one rule) against its own model. Raises KeyError when there is no node there."""
        node, data = self.node, self.data
        for part in loc:
            found = _child(node, part)
            if found is None:
                raise KeyError(tuple(loc))
            node = found[1]
            data = data[int(part)] if isinstance(data, list) else data[_data_key(data, part)]
        return YamlDocument(self.label, self.raw, self.text, data, node)


def read_yaml(path: Path, label: str) -> YamlDocument:
    """Read and parse one file, or raise DialogError with a single problem saying why it cannot be.

    At most MAX_BYTES + 1 bytes are read, so a huge file (or a device) costs nothing."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
        size = path.stat().st_size
    except OSError as exc:
        raise DialogError([Problem(label, None, None, None, f"cannot be read: {exc.strerror or exc}.",
                                   "check that it is a file this service's user can read.")]) from None
    if len(raw) > MAX_BYTES:
        raise DialogError([Problem(
            label, None, None, None,
            f"the file is {max(size, len(raw)):,} bytes, larger than the 1 MiB a dialog file may be, "
            "so it was not read.",
            "split it into several scripts or blocks, or check that the right file was saved here.")])
    return parse_yaml(raw, label)


def parse_yaml(raw: bytes, label: str) -> YamlDocument:
    """Parse bytes already in memory (see `read_yaml`); anything that cannot be read, or is refused,
    becomes one problem with its line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DialogError([Problem(label, line, None, None, "this file is not UTF-8 text.",
                                   "save it as UTF-8 (most editors offer this under 'Save as').")]) from None
    try:
        node = _compose(text)
        data = _build(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise DialogError([_problem(exc, text, label)]) from None
    return YamlDocument(label, raw, text, data, node)


def load_safe(text: str) -> Any:
    """`text` as plain data, read and refused exactly as `parse_yaml` does, without line lookups;
    raises PyYAML's YAMLError (MarkedYAMLError, with the line, when there is one)."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise RefusedYaml(None, "the file is larger than the 1 MiB an admin file may be, so it was not read.",
                          "check that the right file was saved here.")
    node = _compose(text)
    return _build(node) if node is not None else None


def _compose(text: str) -> yaml.Node | None:
    """The root node of the single document in `text` (None when it has none)."""
    if LOADER is PURE_LOADER:
        _check_depth(text)
    return yaml.compose(text, Loader=LOADER)


def _check_depth(text: str) -> None:
    """Refuse deep nesting from the parser's events, which come without recursion, before the
    pure-Python composer (one Python call per level) can hit the interpreter's recursion limit."""
    depth = 0
    for event in yaml.parse(text, Loader=PURE_LOADER):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(event.start_mark)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1


def _too_deep(mark: Any) -> RefusedYaml:
    return RefusedYaml(mark, f"this is nested more than {MAX_DEPTH} levels deep; dialog files need a "
                             "few levels.", "check the indentation, and that every [ and { is closed.")


def _build(root: yaml.Node) -> Any:
    """Plain data from the composed root, once `_measure` has found it small enough to build."""
    _measure(root, 0, {}, set())
    return _data(root)


def _measure(node: yaml.Node, depth: int, known: dict[int, tuple[int, int]],
             building: set[int]) -> tuple[int, int]:
    """How many values `node` expands to and how deep it nests, counting each alias as often as it is
    used but walking each node once, so a "billion laughs" file is measured, and refused, in a
    millisecond; refuses a node too deep, too big, or holding an alias to itself."""
    if isinstance(node, yaml.ScalarNode):
        return 1, 0
    if depth >= MAX_DEPTH:
        raise _too_deep(node.start_mark)
    seen = known.get(id(node))
    if seen is None:
        if id(node) in building:
            raise RefusedYaml(node.start_mark, "an *alias here stands for a list or mapping that contains "
                              "it, which never ends.", "write the values out instead of using the alias.")
        building.add(id(node))
        pairs = node.value if isinstance(node, yaml.MappingNode) else ()
        children = [part for pair in pairs for part in pair] if pairs else node.value
        sizes = [_measure(child, depth + 1, known, building) for child in children]
        building.discard(id(node))
        seen = known[id(node)] = (1 + sum(s for s, _ in sizes), 1 + max((h for _, h in sizes), default=0))
    size, height = seen
    if depth + height > MAX_DEPTH:
        raise _too_deep(node.start_mark)
    if size > MAX_VALUES:
        raise RefusedYaml(node.start_mark, f"this expands to more than {MAX_VALUES:,} values once every "
                          "*alias is expanded; an admin file holds a few thousand.",
                          "write the values out instead of repeating them through &anchors and *aliases.")
    return seen


def _data(node: yaml.Node) -> Any:
    """A measured node as plain values, lists and dicts; refuses a tag it does not know."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_data(item) for item in node.value]
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
        return _mapping(node)
    raise _unknown_tag(node)


def _mapping(node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping, with a key given twice refused at its second place (YAML would keep one silently)."""
    result: dict[Any, Any] = {}
    keys: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = _key(key_node)
        if key in keys:
            first = keys[key].start_mark
            raise RefusedYaml(
                key_node.start_mark,
                f"'{key}' appears twice in the same mapping (first on line {first.line + 1}); YAML would "
                "silently keep only one.",
                f"keep one '{key}:' (merge the two, or rename one if they are different things).")
        keys[key] = key_node
        result[key] = _data(value_node)
    return result


def _key(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise RefusedYaml(node.start_mark, "a key here is a list or a mapping; keys are plain names.",
                          "write the key as a plain name, and check the indentation of the lines below it.")
    return _scalar(node)


_Convert = Callable[[str], Any]


def _whole(text: str) -> int:
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
    digits = digits[2:] if base != 10 else digits
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"this number has {len(digits):,} digits; numbers in an admin file have at most "
                         f"{MAX_DIGITS}.")
    return sign * int(digits, base)


def _number(text: str) -> float:
    special = text.lower().lstrip("+")
    if special in (".inf", "-.inf", ".nan"):
        return float(special.replace(".", ""))
    return float(text)


_SCALARS: dict[str, tuple[re.Pattern[str] | None, _Convert, str]] = {
    _STR: (None, str, "text"),
    _NULL: (_NULL_TEXT, lambda _: None, "null"),
    _BOOL: (_BOOL_TEXT, lambda text: text.lower() == "true", "true or false"),
    _INT: (_INT_TEXT, _whole, "a whole number"),
    _FLOAT: (_FLOAT_TEXT, _number, "a number"),
}


def _scalar(node: yaml.ScalarNode) -> Any:
    """A plain value; an explicit core tag is obeyed only on text it fits (`!!int 12`, not `!!int x`)."""
    known = _SCALARS.get(node.tag)
    if known is None:
        raise _unknown_tag(node)
    pattern, convert, what = known
    if pattern is not None and not pattern.fullmatch(node.value):
        raise RefusedYaml(node.start_mark, f"'{_short(node.value)}' is tagged {_tag_name(node.tag)} but is "
                          f"not {what}.", "remove the tag (the part starting with !!).")
    try:
        return convert(node.value)
    except ValueError as exc:
        raise RefusedYaml(node.start_mark, str(exc), "write a smaller number, or put it in quotes if it is "
                          "text rather than a number.") from None


def _unknown_tag(node: yaml.Node) -> RefusedYaml:
    return RefusedYaml(node.start_mark, f"the tag {_tag_name(node.tag)} is not allowed here; admin files "
                       f"hold {_PLAIN}.", "remove the tag (the part starting with !), and put the value "
                       "in quotes if it is text.")


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else _short(tag)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _data_key(data: dict[Any, Any], part: str | int) -> Any:
    if part in data:
        return part
    return _ALIASES.get(part, part) if isinstance(part, str) else part


def _child(node: yaml.Node | None, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """The child at `part` as (the node whose line names it, the child), or None when there is none."""
    if isinstance(node, yaml.MappingNode):
        for wanted in (part, _ALIASES.get(part) if isinstance(part, str) else None):
            for key, value in node.value:
                if wanted is not None and isinstance(key, yaml.ScalarNode) and _same_key(key, wanted):
                    return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item
    return None


def _same_key(node: yaml.ScalarNode, wanted: str | int) -> bool:
    try:
        return bool(_scalar(node) == wanted)
    except yaml.YAMLError:
        return False


def _problem(exc: yaml.YAMLError, text: str, label: str) -> Problem:
    """One problem, with the line, from anything PyYAML (or this reader) raised."""
    if isinstance(exc, RefusedYaml):
        return Problem(label, _mark_line(exc), None, None, str(exc.problem), exc.fix)
    if isinstance(exc, yaml.MarkedYAMLError) and "maximum nesting depth" in str(exc.problem):
        return _problem(_too_deep(exc.problem_mark), text, label)  # LibYAML's own limit, said as ours
    if isinstance(exc, yaml.MarkedYAMLError):
        return _syntax_problem(exc, label)
    if isinstance(exc, ReaderError):
        line = text[: exc.position].count("\n") + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        return Problem(label, line, None, None, f"this is not valid YAML: the character {char} "
                       "cannot appear in a YAML file.", "delete it, or retype the line in a plain editor.")
    return Problem(label, None, None, None, f"this is not valid YAML: {exc}",
                   "check the indentation and quoting.")


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _syntax_problem(exc: yaml.MarkedYAMLError, label: str) -> Problem:
    problem = str(exc.problem or exc.context or "the text cannot be read").strip().removeprefix("but ")
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    said = f"{exc.problem} {exc.context}"
    fix = next((f for marker, f in _SYNTAX_FIXES if marker in said),
               "check the indentation and quoting on this line and the line above.")
    return Problem(label, _mark_line(exc), None, None, f"this is not valid YAML: {problem}{context}.", fix)
