"""The parsed-file cache `coachbot run` uses: the same library and the same problems (file:line), without
the parser when a file's bytes were seen before."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coachbot.care.escalation_spec import check_escalation_file
from coachbot.care.steps_library import check_steps_file, load_steps
from coachbot.cli import use_parse_cache
from coachbot.config import load_settings
from coachbot.app.self_management.service import SelfManagement
from coachbot.spec import DialogError, check_path, load_library, parsed_cache, yaml_source
from coachbot.spec.library import DialogLibrary
from coachbot.spec.yaml_source import enable_parse_cache, load_safe, parse_yaml

REPO_DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"

BROKEN_SCRIPT = textwrap.dedent("""\
    script: talk
    start: welcome
    states:
      welcome:
        say: Hi
        next: nmae
      name:
        actions:
          - end: true
    """)


@pytest.fixture(autouse=True)
def no_cache_after() -> Iterator[None]:
    yield
    parsed_cache.disable()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Labels of the files the round-trip parser reads, in order."""
    seen: list[str] = []
    real: Callable[[str, str], Any] = yaml_source._round_trip

    def counting(text: str, label: str) -> Any:
        seen.append(label)
        return real(text, label)

    monkeypatch.setattr(yaml_source, "_round_trip", counting)
    return seen


@pytest.fixture
def dialogs(tmp_path: Path) -> Path:
    root = tmp_path / "dialogs"
    shutil.copytree(REPO_DIALOGS, root)
    return root


def summary(library: DialogLibrary) -> Any:
    scripts = {name: (s.version, s.start, [(k, repr(v)) for k, v in s.states.items()])
               for name, s in library.scripts.items()}
    return scripts, repr(library.service), repr(library.escalation)


def test_a_restart_builds_the_same_library_without_parsing(dialogs: Path, tmp_path: Path,
                                                           parses: list[str]) -> None:
    plain = summary(load_library(dialogs))
    enable_parse_cache(tmp_path / "cache")
    assert summary(load_library(dialogs)) == plain  # first start: parses, and keeps what it parsed
    SelfManagement.load(dialogs, load_library(dialogs).service)
    parses.clear()
    library = load_library(dialogs)
    care = SelfManagement.load(dialogs, library.service)
    assert parses == []  # no check asks for a line when there is no problem to report
    assert summary(library) == plain
    assert care is not None and [s.id for s in care.steps.steps] == \
        [s.id for s in load_steps(dialogs / "steps.yaml").steps]
    assert [d.rule for d in library.triggers.detect_all("i want to kill myself")] == \
        [d.rule for d in load_library(dialogs).triggers.detect_all("i want to kill myself")]


def test_problems_name_the_same_file_and_line_from_the_cache(dialogs: Path, tmp_path: Path,
                                                             parses: list[str]) -> None:
    (dialogs / "talk.yaml").write_text(BROKEN_SCRIPT)
    (dialogs / "escalation.yaml").write_text(
        (dialogs / "escalation.yaml").read_text().replace("acknowledge_within:", "acknowledge_witin:", 1))
    expected = check_path(dialogs)
    escalation = check_escalation_file(dialogs / "escalation.yaml")
    assert any(p.file == "dialogs/talk.yaml" and p.line == 6 for p in expected)
    assert escalation and all(p.line is not None for p in escalation)
    enable_parse_cache(tmp_path / "cache")
    assert check_path(dialogs) == expected
    assert check_escalation_file(dialogs / "escalation.yaml") == escalation
    parses.clear()
    assert check_path(dialogs) == expected  # now from the cache: only the files with problems parsed
    assert check_escalation_file(dialogs / "escalation.yaml") == escalation
    assert set(parses) == {"dialogs/talk.yaml", "dialogs/escalation.yaml"}
    with pytest.raises(DialogError) as raised:
        load_library(dialogs)
    assert raised.value.problems == expected


def test_a_file_that_does_not_parse_is_never_kept(tmp_path: Path) -> None:
    enable_parse_cache(tmp_path / "cache")
    for _ in range(2):
        with pytest.raises(DialogError) as raised:
            parse_yaml(b"script: a\nscript: b\n", "dialogs/a.yaml")
        assert raised.value.problems[0].line == 2
    steps = tmp_path / "dialogs" / "steps.yaml"
    steps.parent.mkdir()
    steps.write_text("version: 1\nsteps: [\n")
    assert check_steps_file(steps) == check_steps_file(steps) != []
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_data_json_would_not_give_back_is_parsed_every_time(tmp_path: Path, parses: list[str]) -> None:
    enable_parse_cache(tmp_path / "cache")
    raw = b"1: one\nwhen: 2024-05-01\nbig: .inf\n"
    first = parse_yaml(raw, "x.yaml").data
    assert parse_yaml(raw, "x.yaml").data == first
    assert 1 in first and first["big"] == float("inf")
    assert len(parses) == 2
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_the_safe_loader_is_cached_apart_from_the_round_trip_one(tmp_path: Path) -> None:
    enable_parse_cache(tmp_path / "cache")
    text = "version: 1\nwords: [a, b]\non: yes\n"
    assert load_safe(text) == load_safe(text) == {"version": 1, "words": ["a", "b"], "on": "yes"}
    assert parse_yaml(text.encode(), "x.yaml").data == load_safe(text)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_damaged_or_unwritable_cache_is_passed_by(tmp_path: Path, parses: list[str]) -> None:
    cache = tmp_path / "cache"
    enable_parse_cache(cache)
    raw = b"script: a\nstart: s\n"
    data = parse_yaml(raw, "a.yaml").data
    for kept in cache.iterdir():
        kept.write_bytes(kept.read_bytes()[:5])  # cut short
    assert parse_yaml(raw, "a.yaml").data == data
    assert len(parses) == 2
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    enable_parse_cache(blocked / "cache")
    assert parse_yaml(raw, "a.yaml").data == data


def test_other_parsing_code_never_reads_what_this_code_kept(tmp_path: Path, parses: list[str]) -> None:
    parsed_cache.enable(tmp_path / "cache", b"this code")
    parse_yaml(b"a: 1\n", "a.yaml")
    parse_yaml(b"a: 1\n", "a.yaml")
    parsed_cache.enable(tmp_path / "cache", b"other code")
    parse_yaml(b"a: 1\n", "a.yaml")
    assert len(parses) == 2


def test_entries_no_start_used_for_a_month_go_when_a_new_one_is_written(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    enable_parse_cache(cache)
    parse_yaml(b"a: 1\n", "a.yaml")
    [used] = cache.iterdir()
    parse_yaml(b"b: 1\n", "b.yaml")
    [unused] = set(cache.iterdir()) - {used}
    long_ago = time.time() - (parsed_cache.KEEP_UNUSED_DAYS + 1) * 86_400
    for entry in (used, unused):
        os.utime(entry, (long_ago, long_ago))
    parse_yaml(b"a: 1\n", "a.yaml")  # read at this start: used again
    assert set(cache.iterdir()) == {used, unused}  # nothing new written: nothing pruned
    parse_yaml(b"c: 1\n", "c.yaml")  # a new entry (a dialog file was edited)
    assert unused not in set(cache.iterdir())
    assert used in set(cache.iterdir()) and len(list(cache.iterdir())) == 2


def test_the_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parsed_cache.default_folder() == tmp_path / "coachbot" / "parsed"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parsed_cache.default_folder() == tmp_path / "home" / ".cache" / "coachbot" / "parsed"


def test_run_turns_the_cache_on_unless_told_not_to(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COACHBOT_DIALOGS_DIR", str(REPO_DIALOGS))
    monkeypatch.setenv("COACHBOT_PARSE_CACHE", "false")
    use_parse_cache(load_settings())
    parse_yaml(b"a: 1\n", "a.yaml")
    assert not (tmp_path / "xdg").exists()
    monkeypatch.delenv("COACHBOT_PARSE_CACHE")
    use_parse_cache(load_settings())
    parse_yaml(b"a: 1\n", "a.yaml")
    assert len(list((tmp_path / "xdg" / "coachbot" / "parsed").iterdir())) == 1
