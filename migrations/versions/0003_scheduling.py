"""Scheduling: each patient's next due check-in, and one run per patient, dialog and local date.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00

Written by hand in the style of 0001. The unique key on checkin_runs (patient_id, dialog, local_date)
is the idempotency key that keeps two scheduler processes from serving one day twice. Schedules for
patients who already exist are filled in by the scheduler on start (their next due time needs each
patient's timezone rules, which belong in Python, not in SQL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A 64-bit key that still autoincrements on SQLite (only INTEGER PRIMARY KEY is a rowid alias there).
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("patient_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dialog", sa.String(length=16), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("local_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_schedules_patient_id_patients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("patient_id", "dialog", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_next_due_at", "schedules", ["next_due_at"])

    op.create_table(
        "checkin_runs",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("dialog", sa.String(length=16), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", BIG_KEY, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_checkin_runs_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_checkin_runs_outbox_id_outbox"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_runs")),
        sa.UniqueConstraint(
            "patient_id", "dialog", "local_date", name=op.f("uq_checkin_runs_patient_id_dialog_local_date")
        ),
    )
    op.create_index("ix_checkin_runs_status_claimed_at", "checkin_runs", ["status", "claimed_at"])
    op.create_index("ix_checkin_runs_status_reminder_at", "checkin_runs", ["status", "reminder_at"])
    op.create_index("ix_checkin_runs_local_date", "checkin_runs", ["local_date"])


def downgrade() -> None:
    op.drop_table("checkin_runs")
    op.drop_table("schedules")
