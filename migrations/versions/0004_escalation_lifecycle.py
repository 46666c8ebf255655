"""Escalation lifecycle: re-alert times for unacknowledged escalations, and a coach's pending note.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:00:00

`next_alert_at` is indexed so the scheduler tick finds due re-sends with an index scan. A coach's
re-based baseline is stored as a measurement (code `baseline:MEASURE`), so it needs no table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("next_alert_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("realerts", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("note_pending_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_escalations_note_pending_by_coaches"), "coaches",
                                 ["note_pending_by"], ["id"])
        batch.create_index("ix_escalations_next_alert_at", ["next_alert_at"])


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.drop_index("ix_escalations_next_alert_at")
        batch.drop_constraint(op.f("fk_escalations_note_pending_by_coaches"), type_="foreignkey")
        batch.drop_column("note_pending_by")
        batch.drop_column("realerts")
        batch.drop_column("next_alert_at")
