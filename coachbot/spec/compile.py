"""From a dialogs folder to the immutable library the engine runs, or to every problem in it.

Layout: `dialogs/*.yaml` are scripts (except the files in NON_SCRIPT_FILES), `dialogs/blocks/*.yaml`
are blocks, `dialogs/tests/` holds script tests and is not read here. Every file is read and checked
even after the first problem, so one validation run shows all the work there is to do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from coachbot.spec.catalogue import QUESTIONNAIRE_ITEMS, known_questionnaires
from coachbot.spec.checks import Catalog, DialogSource, check_file, check_service
from coachbot.spec.escalation_rules import load_escalation_rules
from coachbot.spec.library import DialogLibrary, Script
from coachbot.spec.model import EXIT, ScriptFile, ServiceFile, State
from coachbot.spec.problems import DialogError, Problem, sort_problems
from coachbot.spec.schema import schema_problems
from coachbot.spec.yaml_source import YamlDocument, read_yaml

if TYPE_CHECKING:
    from coachbot.care.triggers import TriggerSet

NON_SCRIPT_FILES = frozenset({"service.yaml", "triggers.yaml", "steps.yaml", "summary.yaml",
                              "escalation.yaml", "messages.yaml", "self_management.yaml",
                              "forget.yaml"})
"""Files directly in dialogs/ that are not scripts; their owners read and check them."""


def load_library(dialogs_dir: Path) -> DialogLibrary:
    """The library to run, with blocks expanded and versions computed; raises DialogError listing
    every problem in every file, so a bad edit can never go live half-checked."""
    library, problems = _compile(dialogs_dir)
    if problems or library is None:
        raise DialogError(problems)
    return library


def check_path(path: Path) -> list[Problem]:
    """Problems in a dialogs folder, or in one file of it (checked against its folder: the blocks
    it uses, the scripts it switches to), for `coachbot dialogs validate [PATH]`."""
    if not path.exists():
        return [Problem(str(path), None, None, None, "there is no such file or folder.",
                        "give the path of the dialogs folder or of one .yaml file in it.")]
    if path.is_dir() and path.name == "blocks":
        prefix = _label(path.parent, path) + "/"
        return [p for p in _compile(path.parent)[1] if p.file.startswith(prefix)]
    if path.is_dir():
        return _compile(path)[1]
    root = path.parent.parent if path.parent.name == "blocks" else path.parent
    label = _label(root, path)
    if path.name in NON_SCRIPT_FILES - {"service.yaml", "triggers.yaml"} and path.parent == root:
        return _syntax_only(path, label)
    return [p for p in _compile(root)[1] if p.file == label]


def _compile(root: Path) -> tuple[DialogLibrary | None, list[Problem]]:
    problems: list[Problem] = []
    scripts, broken_scripts = _load_all(root, sorted(root.glob("*.yaml")), False, problems)
    blocks, broken_blocks = _load_all(root, sorted((root / "blocks").glob("*.yaml")), True, problems)
    for stray in sorted([*root.glob("*.yml"), *(root / "blocks").glob("*.yml")]):
        problems.append(Problem(_label(root, stray), None, None, None,
                                "dialog files end in .yaml; this one is not read.",
                                f"rename it to {stray.stem}.yaml."))
    catalog = Catalog(scripts=scripts, blocks=blocks,
                      script_names=frozenset(scripts) | broken_scripts, broken_blocks=broken_blocks,
                      questionnaires=known_questionnaires(), items=QUESTIONNAIRE_ITEMS)
    for src in [*scripts.values(), *blocks.values()]:
        problems.extend(check_file(src, catalog))
    service = _load_service(root, catalog, problems)
    triggers = _load_triggers(root, problems)
    if problems or service is None or triggers is None:
        return None, sort_problems(problems)
    escalation = None
    if (root / "escalation.yaml").exists():
        try:
            escalation = load_escalation_rules(root / "escalation.yaml")
        except DialogError as exc:
            return None, sort_problems(exc.problems)
    compiled = {name: _build(src, blocks) for name, src in scripts.items()}
    return DialogLibrary(scripts=MappingProxyType(compiled), service=service, triggers=triggers,
                         escalation=escalation), []


def _load_all(root: Path, paths: list[Path], in_blocks: bool,
              problems: list[Problem]) -> tuple[dict[str, DialogSource], frozenset[str]]:
    """Load each file; return the good ones by name, and the names declared by files that failed
    (so a script switching to a broken one is not also told that it does not exist)."""
    loaded: dict[str, list[DialogSource]] = {}
    broken: set[str] = set()
    for path in paths:
        if not in_blocks and path.name in NON_SCRIPT_FILES:
            continue
        doc, spec = _parse(path, _label(root, path), ScriptFile, problems)
        if doc is not None and isinstance(doc.data, dict):
            declared = doc.data.get("block" if in_blocks else "script")
            if isinstance(declared, str) and spec is None:
                broken.add(declared)
        if doc is None or not isinstance(spec, ScriptFile):
            continue
        if spec.is_block != in_blocks:
            problems.append(_misplaced(doc, spec))
            continue
        loaded.setdefault(spec.name, []).append(DialogSource(doc, spec))
    for name, sources in loaded.items():
        for src in sources if len(sources) > 1 else ():
            others = ", ".join(s.label for s in sources if s is not src)
            problems.append(src.problem(("block" if in_blocks else "script",), None,
                                        f"the name '{name}' is already used by {others}.",
                                        "give each file its own name."))
    return {name: sources[0] for name, sources in loaded.items()}, frozenset(broken)


def _parse(path: Path, label: str, model: type[BaseModel],
           problems: list[Problem]) -> tuple[YamlDocument | None, BaseModel | None]:
    try:
        doc = read_yaml(path, label)
    except DialogError as exc:
        problems.extend(exc.problems)
        return None, None
    if doc.data is None:
        problems.append(Problem(label, None, None, None, "the file is empty.",
                                "write the file, or delete it."))
        return doc, None
    try:
        return doc, model.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(schema_problems(exc, doc, model))
        return doc, None


def _misplaced(doc: YamlDocument, spec: ScriptFile) -> Problem:
    if spec.is_block:
        return Problem(doc.label, doc.line_of(("block",)), spec.name, None,
                       "this is a block, but blocks live in dialogs/blocks/.",
                       "move the file into blocks/, or write script: instead of block:.")
    return Problem(doc.label, doc.line_of(("script",)), spec.name, None,
                   "this is a script, but dialogs/blocks/ holds only blocks.",
                   "move the file up into dialogs/, or write block: instead of script:.")


def _load_service(root: Path, catalog: Catalog, problems: list[Problem]) -> ServiceFile | None:
    path = root / "service.yaml"
    label = _label(root, path)
    if not path.is_file():
        problems.append(Problem(label, None, None, None,
                                "service.yaml is missing; it says which script runs when.",
                                "add it (its shape is in service.schema.json)."))
        return None
    doc, service = _parse(path, label, ServiceFile, problems)
    if doc is None or not isinstance(service, ServiceFile):
        return None
    problems.extend(check_service(doc, service, catalog))
    return service


def _load_triggers(root: Path, problems: list[Problem]) -> TriggerSet | None:
    # The one import of care in spec, kept lazy: the trigger loader moves into spec later.
    from coachbot.care.triggers import TriggerFileError, load_default_triggers  # noqa: PLC0415

    try:
        return load_default_triggers(root)
    except TriggerFileError as exc:
        # The triggers module says "<path>: what is wrong[ at line N]"; keep our file naming.
        message = str(exc).removeprefix(f"{root / 'triggers.yaml'}: ")
        at_line = re.search(r"\bat line (\d+)", message)
        line = int(at_line.group(1)) if at_line else None
        problems.append(Problem(_label(root, root / "triggers.yaml"), line, None, None,
                                message.rstrip(".") + ".", None))
        return None


def _syntax_only(path: Path, label: str) -> list[Problem]:
    try:
        read_yaml(path, label)
    except DialogError as exc:
        return exc.problems
    return []


def _label(root: Path, path: Path) -> str:
    """How problems name a file: relative to the dialogs folder's parent, e.g. dialogs/x.yaml."""
    try:
        return path.resolve().relative_to(root.resolve().parent).as_posix()
    except ValueError:
        return path.as_posix()


def _build(src: DialogSource, blocks: Mapping[str, DialogSource]) -> Script:
    used = sorted({s.use for s in src.spec.states.values() if s.use is not None})
    return Script(name=src.name, version=script_version(src, [blocks[b] for b in used]),
                  start=src.spec.start, states=MappingProxyType(expand(src.spec, blocks)),
                  source=src.doc.text, title=src.spec.title)


def script_version(src: DialogSource, blocks: list[DialogSource]) -> str:
    """A content hash of the script and the blocks it uses: editing either makes a new version, so
    conversations already running keep the states they started with."""
    digest = hashlib.sha256(src.doc.raw)
    for block in sorted(blocks, key=lambda b: b.name):
        digest.update(b"\0" + block.name.encode() + b"\0" + block.doc.raw)
    return digest.hexdigest()[:12]


def expand(spec: ScriptFile, blocks: Mapping[str, DialogSource]) -> dict[str, State]:
    """Inline every `use:`: state S becomes a pass-through to `S/<block start>`, each block state X
    is copied as `S/X` with its targets prefixed, and `$exit` goes to S's `next`. The engine then
    never needs to know blocks exist."""
    states: dict[str, State] = {}
    for name, state in spec.states.items():
        if state.use is None:
            states[name] = state
            continue
        block = blocks[state.use].spec
        prefix = f"{name}/"
        states[name] = state.model_copy(update={"use": None, "next": prefix + block.start})
        for inner, copy in block.states.items():
            states[prefix + inner] = _moved(copy, prefix, state.next)
    return states


def _moved(state: State, prefix: str, after: str | None) -> State:
    """A block state as it sits inside the script: targets prefixed, `$exit` sent to `after`."""
    def target(name: str) -> str:
        if name != EXIT:
            return prefix + name
        if after is None:
            raise AssertionError("the checks require next: on a state whose block can exit")
        return after

    routes = tuple(r.model_copy(update={"goto": target(r.goto)}) for r in state.routes)
    return state.model_copy(update={
        "next": target(state.next) if state.next is not None else None, "routes": routes})
