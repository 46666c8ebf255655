"""Parsed YAML kept between starts, by content, so a restart with unchanged dialog files skips the parser.

ruamel's pure-Python parser is most of what loading the dialogs folder costs (about 0.25 s of the
0.35 s, with every check included). What it gives for a file depends only on the file's bytes and on
the parsing code, so `cached` keys each result by a SHA-256 of both (ruamel's version and the source
of `coachbot.spec.yaml_source`, which does the parsing, so editing that module or upgrading ruamel
starts afresh) and keeps it as JSON. What is kept is exactly what the parser returned: data that JSON
would not give back as it was (a date, a key that is not text, a float that is not finite) is never
kept, and neither is a file that fails to parse, so every syntax error still comes from the parser
itself. The checks that follow parsing (pydantic, the semantic rules, the trigger compiler) run on the
data whether it came from the cache or not, and a problem's line number still comes from the
round-trip parser (`YamlDocument.tree` parses on first use when the data came from here).

Off unless `enable` was called: `coachbot run` turns it on (in `$XDG_CACHE_HOME/coachbot/parsed`,
or `~/.cache/coachbot/parsed`; COACHBOT_PARSE_CACHE=false turns it off). `coachbot dialogs validate`,
the terminal chat and the tests always parse. A cache that cannot be read or written is passed by
silently: the file is parsed as if there were none. The folder may be deleted at any time.

Every edit of a dialog file adds an entry, so the folder stays bounded this way: a start that reads an
entry marks it used (its modification time), and a start that writes a new one (after an edit)
removes the entries no start has used for `KEEP_UNUSED_DAYS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEEP_UNUSED_DAYS = 30
"""An entry no start has read or written for this long is removed when the next new one is written."""

_folder: Path | None = None
_fingerprint: bytes = b""


def default_folder() -> Path | None:
    """`$XDG_CACHE_HOME/coachbot/parsed`, or `~/.cache/coachbot/parsed`; None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry
            return None
    return Path(base) / "coachbot" / "parsed"


def enable(folder: Path | None, fingerprint: bytes) -> None:
    """Keep parsed files in `folder` (None: turn the cache off). `fingerprint` names the parsing code:
    results kept under another fingerprint are never read."""
    global _folder, _fingerprint  # one process-wide switch, set by `coachbot run`
    _folder, _fingerprint = folder, fingerprint


def disable() -> None:
    enable(None, b"")


def cached(kind: str, raw: bytes, parse: Callable[[], Any]) -> Any:
    """What `parse()` returns for the file whose bytes are `raw`, read from the cache when it is there.
    `kind` tells the parsers apart (the round-trip and the safe loader give different data for the
    same bytes). Exceptions from `parse` propagate and nothing is kept."""
    folder = _folder
    if folder is None:
        return parse()
    path = folder / (hashlib.sha256(b"\0".join((_fingerprint, kind.encode(), raw))).hexdigest() + ".json")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):  # not there yet, unreadable, or cut short by a crash: parse
        pass
    else:
        _mark_used(path)
        return data
    data = parse()
    if _json_exact(data):
        _write(path, json.dumps(data, allow_nan=False).encode())
        _prune(folder, keep=path)
    return data


def _mark_used(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves; it just cannot be pruned well
        os.utime(path)


def _prune(folder: Path, *, keep: Path) -> None:
    """Remove the entries (and any temporary file a crash left) unused for `KEEP_UNUSED_DAYS`."""
    oldest = time.time() - KEEP_UNUSED_DAYS * 86_400
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            with contextlib.suppress(OSError):
                if entry != keep and entry.suffix in (".json", ".tmp") and entry.stat().st_mtime < oldest:
                    entry.unlink()


def _json_exact(value: Any) -> bool:
    """Whether JSON gives `value` back exactly: dicts with text keys, lists, text, whole numbers,
    finite floats, true/false and null, and nothing else (not a subclass either)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    if kind is list:
        return all(_json_exact(v) for v in value)
    if kind is float:
        return value - value == 0.0  # not inf or nan
    return kind in (str, int, bool) or value is None


def _write(path: Path, payload: bytes) -> None:
    """Write whole or not at all (a temporary file renamed into place), and never fail the caller."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("parsed-file cache not written (%s); the file will be parsed again next start", exc)
