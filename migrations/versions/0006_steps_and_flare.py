"""Self-management steps: a coach's pins and blocks of a step for one patient.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 04:10:00

Written by hand in the style of 0001. The flare-up plan needs no table: its answers are measurements
(value_text), the latest of each code being the plan; the flare state is rebuilt from pain_now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_step_overrides_patient_id_patients"),
            ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["coaches.id"], name=op.f("fk_step_overrides_coach_id_coaches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_overrides")),
        sa.UniqueConstraint("patient_id", "step_id", name=op.f("uq_step_overrides_patient_id_step_id")),
    )


def downgrade() -> None:
    op.drop_table("step_overrides")
