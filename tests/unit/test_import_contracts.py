"""The layering of coachbot, checked on every module under coachbot/ (every import statement: top level,
inside functions, under TYPE_CHECKING): the pure core stays free of frameworks, the application does
not reach into the delivery adapters, adapters do not lean on each other, and packages form no cycle.

Each known exception sits in an explicit set with a one-line reason, and each set is asserted exact:
a new violation fails, and removing one fails until the set shrinks with it (a ratchet)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = frozenset({"engine", "spec", "care", "scheduling"})
CHART_MODULES = frozenset({"charts", "drawing", "chart_rows", "escalation_chart"})
"""Today's flat chart modules under coachbot/adapters/; they and `coachbot.adapters.charts.*` form the
charts adapter, so the contracts hold before and after the move into adapters/charts/."""
ADAPTERS = frozenset({"db", "telegram", "terminal", "scheduler", "charts", "ops"})
CORE_LIBRARIES: Mapping[str, frozenset[str]] = {
    "pydantic": CORE, "pydantic_core": CORE,  # pydantic_core ships with pydantic (its error types)
    "yaml": frozenset({"spec"}), "transitions": frozenset({"engine"}),
}
APP_FORBIDDEN_LIBRARIES = frozenset({"telegram", "apscheduler", "aiohttp", "httpx", "matplotlib"})
APP_FORBIDDEN_ADAPTERS = frozenset({"telegram", "terminal", "scheduler", "charts"})

CORE_DEBT: frozenset[tuple[str, str]] = frozenset({
    # The trigger loader parses triggers.yaml in care/; it belongs in spec/ (spec/compile.py calls it).
    ("coachbot.care.triggers", "yaml"),
})
APP_ADAPTER_DEBT: frozenset[tuple[str, str]] = frozenset({
    # The chart-row payload (kind + JSON) is built with the charts adapter's helper; it belongs in app.
    ("coachbot.app.coaches.desk", "charts"),
    ("coachbot.app.self_management.service", "charts"),
    # CheckinStarter types its config with SchedulerConfig, defined in the scheduler adapter (TYPE_CHECKING).
    ("coachbot.app.checkins.start", "scheduler"),
})
KNOWN_DEBT: frozenset[str] = frozenset({
    # App modules that still take an AsyncSession and query through coachbot.adapters.db / SQLAlchemy
    # instead of the unit of work's repositories (coachbot/app/unit_of_work.py). The pipeline builds the
    # default unit of work factory and reaches the session (`session_of`) for its own writes (new
    # patient, schedule change, update id) and for the data rights desk.
    "coachbot.app.pipeline",
    # The built application holds the database engine and session maker it was built with.
    "coachbot.app.application",
    # Data rights erase, export and purge rows table by table (the erasure walks the models' foreign keys).
    "coachbot.app.data_rights.erase", "coachbot.app.data_rights.export",
    "coachbot.app.data_rights.outbox_bodies", "coachbot.app.data_rights.purge",
    "coachbot.app.data_rights.requests", "coachbot.app.data_rights.staff",
    # Check-in starts claim runs through schedule_store, a batch per transaction without autoflush.
    "coachbot.app.checkins.start",
    # `coachbot coaches ...` opens its own engine on the configured database.
    "coachbot.app.coaches.admin",
})
ADAPTER_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    # The scheduler tick finds due schedules and claims check-in runs in the database.
    ("coachbot.adapters.scheduler.tick", "db"),
    # The Telegram app is the process: it launches the scheduler, warms up the drawing process and
    # reads the active coaches to set their command menu.
    ("coachbot.adapters.telegram.app", "scheduler"),
    ("coachbot.adapters.telegram.app", "charts"),
    ("coachbot.adapters.telegram.app", "db"),
    # The process serves the health and metrics endpoints and counts the updates it handled.
    ("coachbot.adapters.telegram.app", "ops"),
    # The sender counts each send's result for /metrics.
    ("coachbot.adapters.telegram.outbox", "ops"),
    # The gauges and readiness read the outbox, escalations, check-ins and measurements.
    ("coachbot.adapters.ops.readings", "db"),
    # Outbox rows hold chart data; the sender draws the PNG at send time.
    ("coachbot.adapters.telegram.outbox_calls", "charts"),
    # The outbox and processed-update tables are rows in the database.
    ("coachbot.adapters.telegram.outbox_store", "db"),
    # The terminal chat prints the chart and finds its one patient by chat id.
    # The terminal's transcript draws a queued chart row as Telegram's sender would.
    ("coachbot.adapters.terminal.transcript", "charts"),
    ("coachbot.adapters.terminal.chat", "db"),
})
KNOWN_PACKAGE_CYCLES: frozenset[frozenset[str]] = frozenset({
    # spec/compile.py loads triggers through coachbot.care.triggers (see CORE_DEBT).
    frozenset({"coachbot.spec", "coachbot.care"}),
    # app/checkins/start.py names SchedulerConfig from the scheduler adapter (see APP_ADAPTER_DEBT).
    frozenset({"coachbot.app", "coachbot.adapters.scheduler"}),
})
KNOWN_MODULE_CYCLES: frozenset[frozenset[str]] = frozenset({
    # desk, relay and the data-rights desk name PatientService for typing (TYPE_CHECKING); the pipeline
    # dispatches to them.
    frozenset({"coachbot.app.pipeline", "coachbot.app.coaches.desk", "coachbot.app.coaches.relay",
               "coachbot.app.data_rights.requests"}),
    # the scheduler tick builds CheckinStarter, which names SchedulerConfig for typing.
    frozenset({"coachbot.adapters.scheduler.tick", "coachbot.app.checkins.start"}),
    # alert_card shortens its caption with messages_out, which renders alert cards (function-level).
    frozenset({"coachbot.adapters.telegram.alert_card", "coachbot.adapters.telegram.messages_out"}),
})


@dataclass(frozen=True)
class Import:
    """One imported module name, as written or resolved from a relative import, with its line."""

    line: int
    target: str


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def scan(root: Path) -> dict[str, list[Import]]:
    """Every module under root/coachbot and everything it imports. `from pkg import name` also counts
    `pkg.name` when that is a module, so `from coachbot.adapters import drawing` names drawing."""
    paths = {module_name(path, root): path for path in sorted((root / "coachbot").rglob("*.py"))}
    graph: dict[str, list[Import]] = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: list[Import] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found += [Import(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package[: len(package) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append(Import(node.lineno, base))
                found += [Import(node.lineno, f"{base}.{alias.name}") for alias in node.names
                          if f"{base}.{alias.name}" in paths]
        graph[name] = found
    return graph


def layer(module: str) -> str | None:
    """`engine`, `app`, ... for coachbot modules: the second name part."""
    parts = module.split(".")
    return parts[1] if parts[0] == "coachbot" and len(parts) > 1 else None


def adapter(module: str) -> str | None:
    """Which adapter package a module belongs to (db, telegram, terminal, scheduler, charts), if any."""
    parts = module.split(".")
    if parts[:2] != ["coachbot", "adapters"] or len(parts) < 3:
        return None
    return "charts" if parts[2] in CHART_MODULES else parts[2]


def package(module: str) -> str:
    """The unit for the cycle contract: a core package, `coachbot.app`, one adapter, or a top module."""
    if (name := adapter(module)) is not None:
        return f"coachbot.adapters.{name}"
    return ".".join(module.split(".")[:2])


def imports_of(graph: Mapping[str, list[Import]], top: str) -> Iterator[tuple[str, Import]]:
    for module, found in graph.items():
        if layer(module) == top:
            yield from ((module, item) for item in found)


def core_violations(graph: Mapping[str, list[Import]]) -> set[tuple[str, str]]:
    """(module, import) pairs where the core reaches past the standard library and its allowed libraries."""
    bad: set[tuple[str, str]] = set()
    for top in CORE:
        for module, item in imports_of(graph, top):
            root = item.target.split(".")[0]
            if root == "coachbot":
                if layer(item.target) not in CORE:
                    bad.add((module, item.target))
            elif root not in sys.stdlib_module_names and top not in CORE_LIBRARIES.get(root, frozenset()):
                bad.add((module, root))
    return bad


def app_adapter_violations(graph: Mapping[str, list[Import]]) -> set[tuple[str, str]]:
    """(module, adapter or library) pairs where the application reaches a delivery mechanism."""
    bad: set[tuple[str, str]] = set()
    for module, item in imports_of(graph, "app"):
        if adapter(item.target) in APP_FORBIDDEN_ADAPTERS:
            bad.add((module, str(adapter(item.target))))
        elif item.target.split(".")[0] in APP_FORBIDDEN_LIBRARIES:
            bad.add((module, item.target.split(".")[0]))
    return bad


def app_modules_on_the_database(graph: Mapping[str, list[Import]]) -> set[str]:
    return {module for module, item in imports_of(graph, "app")
            if adapter(item.target) == "db" or item.target.split(".")[0] == "sqlalchemy"}


def adapter_crossings(graph: Mapping[str, list[Import]]) -> set[tuple[str, str]]:
    """(module, other adapter) pairs where one adapter package imports another."""
    return {(module, str(adapter(item.target))) for module, found in graph.items() for item in found
            if adapter(module) is not None and adapter(item.target) is not None
            and adapter(item.target) != adapter(module)}


def strongly_connected(edges: Mapping[str, set[str]]) -> list[set[str]]:
    """Tarjan's components with more than one node: each is a set of nodes that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while (member := stack.pop()) != node:
                component.add(member)
            component.add(node)
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def module_edges(graph: Mapping[str, list[Import]]) -> dict[str, set[str]]:
    return {module: {item.target for item in found if item.target in graph and item.target != module}
            for module, found in graph.items()}


def module_cycles(graph: Mapping[str, list[Import]]) -> set[frozenset[str]]:
    return {frozenset(component) for component in strongly_connected(module_edges(graph))}


def package_cycles(graph: Mapping[str, list[Import]]) -> dict[frozenset[str], list[str]]:
    """Each cycle between packages, with the module imports that close it (`a.x -> b.y`)."""
    edges: dict[str, set[str]] = defaultdict(set)
    witnesses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, targets in module_edges(graph).items():
        for target in sorted(targets):
            if package(module) != package(target):
                edges[package(module)].add(package(target))
                witnesses[package(module), package(target)].append(f"{module} -> {target}")
    return {frozenset(component): [w for a in sorted(component) for b in sorted(component)
                                   for w in witnesses.get((a, b), [])]
            for component in strongly_connected(edges)}


GRAPH = scan(REPO)


def test_the_walk_sees_every_module_under_coachbot() -> None:
    assert len(GRAPH) == len(list((REPO / "coachbot").rglob("*.py")))
    assert len(GRAPH) > 100
    assert {layer(module) for module in GRAPH} >= {*CORE, "app", "adapters", "bootstrap", "cli", "config"}


def test_the_core_imports_only_the_standard_library_pydantic_yaml_in_spec_and_transitions_in_engine() -> None:
    assert core_violations(GRAPH) - CORE_DEBT == set(), "new core import outside its contract"
    assert CORE_DEBT - core_violations(GRAPH) == set(), "debt paid: remove it from CORE_DEBT"


def test_the_app_imports_no_delivery_adapter_and_no_telegram_or_scheduler_library() -> None:
    assert app_adapter_violations(GRAPH) - APP_ADAPTER_DEBT == set(), "new app import of a delivery adapter"
    assert APP_ADAPTER_DEBT - app_adapter_violations(GRAPH) == set(), "debt paid: shrink APP_ADAPTER_DEBT"


def test_the_app_modules_still_on_the_database_are_exactly_the_known_debt() -> None:
    assert app_modules_on_the_database(GRAPH) - KNOWN_DEBT == set(), "new app module on coachbot.adapters.db"
    assert KNOWN_DEBT - app_modules_on_the_database(GRAPH) == set(), "debt paid: shrink KNOWN_DEBT"


def test_adapters_import_each_other_only_where_allowed() -> None:
    assert adapter_crossings(GRAPH) - ADAPTER_ALLOWED == set(), "new import across adapter packages"
    assert ADAPTER_ALLOWED - adapter_crossings(GRAPH) == set(), "crossing gone: shrink ADAPTER_ALLOWED"


def test_packages_form_no_import_cycle_beyond_the_known_ones() -> None:
    cycles = package_cycles(GRAPH)
    new = {", ".join(sorted(cycle)): cycles[cycle] for cycle in cycles if cycle not in KNOWN_PACKAGE_CYCLES}
    assert new == {}, "new cycle between packages (module imports that close it shown)"
    assert KNOWN_PACKAGE_CYCLES - set(cycles) == set(), "cycle gone: shrink KNOWN_PACKAGE_CYCLES"


def test_modules_form_no_import_cycle_beyond_the_known_ones() -> None:
    cycles = module_cycles(GRAPH)
    assert sorted(map(sorted, cycles - KNOWN_MODULE_CYCLES)) == [], "new cycle between modules"
    assert KNOWN_MODULE_CYCLES - cycles == set(), "cycle gone: shrink KNOWN_MODULE_CYCLES"


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_each_contract_reports_a_violating_import(tmp_path: Path) -> None:
    write(tmp_path, {
        "coachbot/__init__.py": "",
        "coachbot/engine/__init__.py": "",
        "coachbot/engine/runner.py": "import yaml\ndef f():\n    from sqlalchemy import select\n",
        "coachbot/spec/__init__.py": "from ..care import rules\n",
        "coachbot/care/__init__.py": "",
        "coachbot/care/rules.py": "from coachbot.spec import model\nfrom coachbot.adapters.db import store\n",
        "coachbot/spec/model.py": "import transitions\n",
        "coachbot/app/__init__.py": "",
        "coachbot/app/flow.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                 "    from coachbot.adapters import drawing\nimport telegram.ext\n"
                                 "from sqlalchemy import select\n"),
        "coachbot/adapters/__init__.py": "",
        "coachbot/adapters/drawing.py": "",
        "coachbot/adapters/db/__init__.py": "",
        "coachbot/adapters/db/store.py": "from ..telegram.out import send\n",
        "coachbot/adapters/telegram/__init__.py": "",
        "coachbot/adapters/telegram/out.py": "from . import keys\nfrom coachbot.adapters.db import store\n",
        "coachbot/adapters/telegram/keys.py": "",
    })
    graph = scan(tmp_path)
    assert core_violations(graph) == {
        ("coachbot.engine.runner", "yaml"), ("coachbot.engine.runner", "sqlalchemy"),
        ("coachbot.spec.model", "transitions"),
        ("coachbot.care.rules", "coachbot.adapters.db"),
        ("coachbot.care.rules", "coachbot.adapters.db.store")}
    assert app_adapter_violations(graph) == {("coachbot.app.flow", "charts"),
                                             ("coachbot.app.flow", "telegram")}
    assert app_modules_on_the_database(graph) == {"coachbot.app.flow"}
    assert adapter_crossings(graph) == {("coachbot.adapters.db.store", "telegram"),
                                        ("coachbot.adapters.telegram.out", "db")}
    assert package_cycles(graph).keys() == {frozenset({"coachbot.spec", "coachbot.care"}),
                                            frozenset({"coachbot.adapters.db", "coachbot.adapters.telegram"})}
    assert package_cycles(graph)[frozenset({"coachbot.spec", "coachbot.care"})] == [
        "coachbot.care.rules -> coachbot.spec", "coachbot.care.rules -> coachbot.spec.model",
        "coachbot.spec -> coachbot.care", "coachbot.spec -> coachbot.care.rules"]
    assert module_cycles(graph) == {
        frozenset({"coachbot.adapters.db.store", "coachbot.adapters.telegram.out"}),
        frozenset({"coachbot.spec", "coachbot.care.rules"})}
