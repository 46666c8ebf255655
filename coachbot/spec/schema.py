"""The structural stage: the JSON Schema editors check against, and structural errors said plainly.

pydantic already knows the shape of a dialog file; this module turns that knowledge into two things
admins see: a JSON Schema their editor uses while they type (point the YAML language server at it
with `# yaml-language-server: $schema=dialog.schema.json`), and, when a file does not fit, a problem
per mistake with its line and a fix, instead of pydantic's developer-facing error dump.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from coachbot.spec.model import ScriptFile, ServiceFile
from coachbot.spec.problems import DialogError, Problem, sort_problems
from coachbot.spec.yaml_source import YamlDocument, read_yaml

M = TypeVar("M", bound=BaseModel)

SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "dialog.schema.json": (ScriptFile, "coachbot dialog file (a script or a block)"),
    "service.schema.json": (ServiceFile, "coachbot dialogs/service.yaml"),
}

_WHAT = {"ScriptFile": "the top of a dialog file", "State": "a state", "Question": "ask:",
         "Option": "an option", "Condition": "a condition", "Route": "a route under on:",
         "Record": "record:", "EscalateAction": "escalate:", "Action": "an action",
         "ServiceFile": "service.yaml", "Messages": "messages:"}
_MAPPING = "a mapping (indented `key: value` lines)"
_LIST = "a list (lines starting with '- ')"
_WHOLE = "a whole number"
_EXPECTED = {"int_type": _WHOLE, "int_parsing": _WHOLE, "int_from_float": _WHOLE,
             "float_type": "a number", "float_parsing": "a number", "string_type": "text",
             "bool_type": "true/false", "bool_parsing": "true/false", "model_type": _MAPPING,
             "dict_type": _MAPPING, "model_attributes_type": _MAPPING, "tuple_type": _LIST,
             "list_type": _LIST, "finite_number": "a number"}
_VALUE_FIXES = (
    ("at least two options", "add at least two entries under options:, each with value: and label:, "
                             "or use type: yes_no."),
    ("options are only for choice", "remove options:, or make it type: choice."),
    ("needs both min and max", "add min: and max: to the question."),
    ("min must not be greater", "swap min: and max:."),
    ("names exactly one of answer", "test one thing per condition, e.g. {answer: pain, gte: 7}; "
                                    "combine several with all: [...] or any: [...]."),
    ("needs a test", "add one of eq:, ne:, gt:, gte:, lt:, lte:, in: or answered:."),
    ("exactly one of all/any/not", "put the other tests inside all: [...] or any: [...]."),
    ("an action has exactly one", "write each action as its own list item, e.g. '- end: true'."),
    ("need an ask:", "add ask: to this state, or remove store:/profile:."),
    ("either a measure", "keep only one of store: and profile:."),
    ("only runs the block", "move say/ask/actions/on into the block, or into a state of their own."),
    ("not both", "replace next: X by a last route '- goto: X' under on:."),
    ("exactly one of script:", "start the file with script: NAME (or block: NAME for files in blocks/)."),
)


def export_schema(out_dir: Path) -> list[Path]:
    """Write the JSON Schemas of dialog files and service.yaml into `out_dir`, for editors to use;
    returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, (model, title) in SCHEMAS.items():
        schema = _close_patterned(model.model_json_schema(by_alias=True))
        document = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$id": f"urn:coachbot:schema:{filename}", **schema, "title": title}
        path = out_dir / filename
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _close_patterned(node: Any) -> Any:
    """pydantic writes name-keyed mappings (`states:`) as patternProperties but leaves other keys
    allowed; close them so an editor flags `Pain Now:` as the loader will."""
    if isinstance(node, dict):
        closed = {key: _close_patterned(value) for key, value in node.items()}
        if "patternProperties" in closed:
            closed.setdefault("additionalProperties", False)
        return closed
    if isinstance(node, list):
        return [_close_patterned(value) for value in node]
    return node


def schema_problems(error: ValidationError, doc: YamlDocument, root: type[BaseModel]) -> list[Problem]:
    """One problem per structural mistake in `doc`, pointing at its line.

    pydantic reports a value that fits no member of a union (a number, text or true/false) once per
    member; those are merged into a single problem, because to the admin it is one mistake."""
    data = doc.data if isinstance(doc.data, dict) else {}
    name = data.get("script") or data.get("block")
    script = name if isinstance(name, str) else None
    groups: dict[tuple[str | int, ...], list[ErrorDetails]] = {}
    for detail in error.errors(include_url=False):
        groups.setdefault(_existing(doc.data, detail["loc"], detail["type"]), []).append(detail)
    problems = []
    for loc, details in groups.items():
        state = str(loc[1]) if len(loc) > 1 and loc[0] == "states" else None
        line = doc.line_of(loc)
        if len(details) > 1 and all(d["type"] in _EXPECTED for d in details):
            kinds = list(dict.fromkeys(_EXPECTED[d["type"]] for d in details))
            if "a number" in kinds and "a whole number" in kinds:
                kinds.remove("a whole number")
            expected = _join_or(kinds)
            message = f"{_path(loc)}expected {expected}, found {_found(details[0]['input'])}."
            problems.append(Problem(doc.label, line, script, state, message, f"write {expected} here."))
            continue
        for detail in details:
            message, fix = _explain(detail, loc, root)
            problems.append(Problem(doc.label, line, script, state, message, fix))
    return problems


def _existing(data: Any, loc: Sequence[str | int], kind: str) -> tuple[str | int, ...]:
    """The part of `loc` that names real nodes, plus the absent key of a `missing` error."""
    kept: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            node = node[part]
        else:
            if kind == "missing" and index == len(loc) - 1:
                kept.append(part)
            break
        kept.append(part)
    return tuple(kept)


def _explain(detail: ErrorDetails, loc: tuple[str | int, ...],
             root: type[BaseModel]) -> tuple[str, str | None]:
    kind, value, ctx = detail["type"], detail["input"], detail.get("ctx") or {}
    key = loc[-1] if loc else ""
    if kind in ("extra_forbidden", "missing"):
        parent = _model_at(root, loc[:-1])
        where = f"in {_WHAT.get(parent.__name__, parent.__name__)}" if parent else "here"
        allowed = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
        if kind == "missing":
            return f"{_path(loc[:-1])}'{key}' is missing {where}.", f"add '{key}:'."
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        keys = f"Keys allowed {where}: {', '.join(allowed)}." if allowed else "remove it."
        return f"{_path(loc[:-1])}'{key}' is not a key allowed {where}.", hint + keys
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (f"{_path(loc)}{value!r} is not one of the allowed values.",
                f"{hint}use one of: {', '.join(options) or ctx.get('expected')}.")
    if kind == "string_pattern_mismatch":
        suggestion = re.sub(r"[^a-z0-9_]+", "_", str(value).lower()).strip("_")
        suggestion = suggestion if re.match(r"^[a-z]", suggestion) else f"x_{suggestion}"
        what = "state name" if detail["loc"][-1] == "[key]" and loc[:1] == ("states",) else "name"
        return (f"{_path(loc)}'{value}' is not a valid {what}.",
                f"names use lowercase letters, digits and _ and start with a letter, e.g. '{suggestion}'.")
    if kind in ("string_too_long", "too_long"):
        return (f"{_path(loc)}this is too long (at most {ctx.get('max_length')}).", "shorten it.")
    if kind in ("string_too_short", "too_short"):
        return f"{_path(loc)}this is empty.", "write something here, or remove the key."
    if kind == "value_error":
        text = str(detail["msg"]).removeprefix("Value error, ")
        fix = next((f for marker, f in _VALUE_FIXES if marker in text), None)
        return f"{_path(loc)}{text}.", fix
    if kind in _EXPECTED:
        return (f"{_path(loc)}expected {_EXPECTED[kind]}, found {_found(value)}.",
                f"write {_EXPECTED[kind]} here.")
    return f"{_path(loc)}{detail['msg']}.", "see dialog.schema.json for what is allowed here."


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the node at `loc`, by walking field annotations."""
    current: Any = root
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
            continue
        args = get_args(current)
        if get_origin(current) is tuple and args:
            current = args[0]
        elif get_origin(current) is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _path(loc: Sequence[str | int]) -> str:
    """Where in the state (or file) the mistake is, e.g. `ask.options[2].label: `; list items count
    from 1 as admins do. The state itself is already named by the problem."""
    rel = loc[2:] if len(loc) >= 2 and loc[0] == "states" else loc
    text = ""
    for part in rel:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"{text}: " if text else ""


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "nothing"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    return f"{value!r}"


def _join_or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def load_checked_file(path: Path, model: type[M], checks: Callable[[YamlDocument, M], Iterable[Problem]],
                      ) -> tuple[M | None, list[Problem]]:
    """A data file read (with line numbers), validated as `model`, then given its own `checks`: the model
    only when there is no problem at all, and every problem at once, sorted by place."""
    try:
        doc = read_yaml(path, f"{path.parent.name}/{path.name}")
    except DialogError as exc:
        return None, exc.problems
    try:
        value = model.model_validate(doc.data)
    except ValidationError as exc:
        return None, sort_problems(schema_problems(exc, doc, model))
    problems = sort_problems(checks(doc, value))
    return (None if problems else value), problems
