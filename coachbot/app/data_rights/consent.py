"""Consent records which text was agreed to, not only when: the script and version of the dialog
that asked (its text is kept under that version in `script_versions`)."""

from __future__ import annotations

from coachbot.app.unit_of_work import PatientRecord
from coachbot.engine import Position


def consent_version(position: Position | None) -> str | None:
    """"script:version" of the dialog the answer was given in."""
    return f"{position.script}:{position.version}"[:64] if position is not None else None


def record_consent(patient: PatientRecord, value: object, position: Position | None) -> None:
    """On a yes, the version agreed to; a no leaves the last version agreed to for the record (the
    consent time, cleared by the profile update, says whether consent stands)."""
    if value == 1:
        patient.consent_version = consent_version(position)
        patient.consent_withdrawn_at = None
