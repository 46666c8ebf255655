"""Coach tools: invite codes, coaches' notes, and open coach-patient conversations (the relay).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 04:00:00

Written by hand in the style of 0001. Invites keep only the SHA-256 of their code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coach_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_backup", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["used_by"], ["coaches.id"], name=op.f("fk_coach_invites_used_by_coaches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_coach_invites_code_hash")),
    )
    op.create_table(
        "coach_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name=op.f("fk_coach_notes_patient_id_patients"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["coach_id"], ["coaches.id"], name=op.f("fk_coach_notes_coach_id_coaches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_notes")),
    )
    op.create_index("ix_coach_notes_patient_id_created_at", "coach_notes", ["patient_id", "created_at"])
    op.create_table(
        "coach_relays",
        sa.Column("patient_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"],
                                name=op.f("fk_coach_relays_patient_id_patients"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["coach_id"], ["coaches.id"], name=op.f("fk_coach_relays_coach_id_coaches")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_coach_relays")),
    )


def downgrade() -> None:
    op.drop_table("coach_relays")
    op.drop_table("coach_notes")
    op.drop_table("coach_invites")
