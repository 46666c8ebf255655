"""Outbox rows as a terminal transcript: what the patient's chat and the coach's chat would show.

The rows are the channel formatter's payloads (the same rows Telegram's sender sends), so what the
terminal prints is what a patient or coach would read: text with its buttons, charts and files saved
as files (their path printed), coach alerts as cards.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from coachbot.app.channel import QueuedMessage

INDENT = " " * 10
"""Buttons and notes line up under the text after `coachbot> `."""


def buttons(keyboard: Any) -> list[str]:
    """A stored keyboard layout (rows of [label, callback data]) as `[label]` lines, one per row."""
    if not isinstance(keyboard, list):
        return []
    return [INDENT + "  ".join(f"[{button[0]}]" for button in row if isinstance(button, list | tuple))
            for row in keyboard if isinstance(row, list)]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "file"


class Transcript:
    """Prints rows for the patient's chat as `coachbot>` lines and rows for any other chat as the
    coach's alert card; charts and files go under `files` (charts/ and files/)."""

    def __init__(self, out: TextIO, files: Path, patient_chat: int) -> None:
        self.out, self.files, self.patient_chat = out, files, patient_chat

    def say(self, text: str) -> None:
        print(text, file=self.out)

    async def show(self, rows: Sequence[QueuedMessage]) -> None:
        for row in rows:
            if row.kind == "edit":  # a pressed question's edit: the terminal has no message to change
                continue
            if row.chat_id == self.patient_chat:
                await self._patient(row)
            else:
                await self._coach(row)

    async def _patient(self, row: QueuedMessage) -> None:
        payload = row.payload
        if row.kind == "text":
            self.say(f"coachbot> {payload.get('text', '')}")
            for line in buttons(payload.get("keyboard")):
                self.say(line)
        elif row.kind in {"chart", "photo"}:
            path = await self._picture(row)
            self.say(f"coachbot> [chart] {payload.get('caption', '')}\n{INDENT}(saved to {path}; in "
                     "Telegram it comes as a picture)")
        elif row.kind == "document":
            path = self._document(row)
            self.say(f"coachbot> [file] {payload.get('caption', '')}\n{INDENT}(saved to {path}; in "
                     "Telegram it comes as a file)")

    async def _coach(self, row: QueuedMessage) -> None:
        payload = row.payload
        text = str(payload.get("text") or payload.get("caption") or "")
        self.say(f"  +-- COACH ALERT (what the coach's chat {row.chat_id} shows)")
        for line in text.splitlines():
            self.say(f"  |   {line}")
        for line in buttons(payload.get("keyboard")):
            self.say(f"  |   {line.strip()}")
        if row.kind == "photo":
            self.say(f"  +-- chart saved to {await self._picture(row)}")
        else:
            self.say("  +--")

    async def _picture(self, row: QueuedMessage) -> Path:
        """Draw the row's chart as Telegram's sender would (matplotlib: imported on first use)."""
        if row.kind == "chart":
            from coachbot.adapters.charts import render_chart_row  # noqa: PLC0415 (heavy)

            png = await asyncio.to_thread(render_chart_row, row.payload)
        else:
            from coachbot.adapters.charts import render_escalation_chart  # noqa: PLC0415

            png = await asyncio.to_thread(render_escalation_chart, row.payload["chart"])
        path = self.files / "charts" / f"coachbot-chart-{_safe(row.label or 'chat')}-{row.id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path

    def _document(self, row: QueuedMessage) -> Path:
        path = self.files / "files" / f"{row.id}-{_safe(str(row.payload.get('filename', 'file')))}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(row.payload.get("content", "")), encoding="utf-8")
        return path
