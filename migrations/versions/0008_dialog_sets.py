"""The last good dialog set: each folder of dialog files that loaded at a start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 23:50:00

A start whose dialog files are broken serves the newest stored set instead of refusing to run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dialog_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialog_sets")),
        sa.UniqueConstraint("sha256", name=op.f("uq_dialog_sets_sha256")),
    )


def downgrade() -> None:
    op.drop_table("dialog_sets")
