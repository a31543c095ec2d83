"""batches name the columns they dropped

Revision ID: 5b0d6c1e9a27
Revises: 5e1f0c2a9b31
Create Date: 2026-12-07 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0d6c1e9a27"
down_revision: str | None = "5e1f0c2a9b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batches ingested before this revision dropped nothing they could name: an empty list.
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(
            sa.Column("dropped_columns", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("dropped_columns")
