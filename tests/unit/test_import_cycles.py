"""`coachbot.spec` (every admin-file model and loader) never imports `coachbot.care` (the clinical
logic, which imports spec), so the two cannot form an import cycle. The one exception, until the
trigger loader moves into spec, is `coachbot.care.triggers` and the trigger modules it is made of."""

from __future__ import annotations

import ast
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "coachbot" / "spec"
ALLOWED = frozenset({"coachbot.care.triggers"})
"""What spec may import from care: the trigger loader (`spec/compile.py` reads triggers.yaml with it)."""


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, anywhere in it (top level, in functions, under TYPE_CHECKING),
    with its line; relative imports resolved against the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = ["coachbot", "spec"][: max(0, 3 - node.level)]
                base = ".".join([*package, base] if base else package)
            found.append((node.lineno, base))
            if base in ("coachbot", "coachbot.care"):  # `from coachbot import care` names a module
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_spec_modules_import_nothing_from_care_but_the_trigger_loader() -> None:
    modules = sorted(SPEC.glob("*.py"))
    assert len(modules) >= 15, "the walk must see every spec module"
    offending = [f"{path.name}:{line}: {name}" for path in modules for line, name in imported_modules(path)
                 if (name == "coachbot.care" or name.startswith("coachbot.care.")) and name not in ALLOWED]
    assert offending == []


def test_the_walk_sees_imports_inside_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    import coachbot.care.flare\n"
                      "def f():\n    from coachbot.care.scoring import score\n"
                      "    from coachbot import care\n")
    names = [name for _, name in imported_modules(sample)]
    assert {"coachbot.care.flare", "coachbot.care.scoring", "coachbot.care"} <= set(names)
