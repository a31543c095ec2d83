"""service schedules and batching

Revision ID: b7c1d2e3f4a5
Revises: 5a5f5d716373
Create Date: 2026-11-29 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7c1d2e3f4a5"
down_revision: str | None = "5a5f5d716373"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retraining_schedule_id", sa.String(length=36), nullable=True)
        )
        batch_op.add_column(sa.Column("scoring_schedule_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("batching", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("batching")
        batch_op.drop_column("scoring_schedule_id")
        batch_op.drop_column("retraining_schedule_id")
