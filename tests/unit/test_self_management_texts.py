"""dialogs/self_management.yaml: every word around flare-ups, /steps and pins, checked like a dialog."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from coachbot.spec.self_management_texts import check_texts_file, fill, load_texts

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
SHIPPED = DIALOGS / "self_management.yaml"


def test_the_shipped_file_is_valid_and_fills_in() -> None:
    assert check_texts_file(SHIPPED) == []
    texts = load_texts(SHIPPED)
    assert fill(texts.flare.started, now=7, before=4).startswith("Your pain is 7 out of 10 today, up from 4")
    assert "999" in texts.flare.safety and "/flareplan" in texts.flare.no_plan_offer


def test_a_placeholder_a_sentence_cannot_use_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "self_management.yaml"
    text = SHIPPED.read_text().replace("What helps: {text}", "What helps: {txt}")
    broken.write_text(text)
    problems = check_texts_file(broken)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "{txt}" in row)
    assert [(p.line, p.state) for p in problems] == [(line, "flare.plan_helps")]
    assert "{txt}" in problems[0].message and "{text}" in (problems[0].fix or "")


def test_dialogs_validate_checks_the_self_management_words(tmp_path: Path) -> None:
    folder = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, folder)
    target = folder / "self_management.yaml"
    target.write_text(target.read_text().replace("  settled:", "  setled:"))
    result = subprocess.run([sys.executable, "-m", "coachbot.cli", "dialogs", "validate", str(folder)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "self_management.yaml" in result.stderr and "setled" in result.stderr
