"""Data rights: which consent text a patient agreed to, and when they withdrew it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00

Erasure, export and purge need no new table: they delete rows of the existing ones and leave one
audit entry (labels only). A sent outbox row's body is cleared after a while; `outbox.cleared_at`
says when, so the row stays accountable.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("consent_version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("consent_withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("cleared_at")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("consent_withdrawn_at")
        batch.drop_column("consent_version")
