"""run baseline metrics and feature importance

Revision ID: 5b7e2c1d9a40
Revises: 8dfb39fcc046
Create Date: 2026-12-07 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c1d9a40"
down_revision: str | None = "8dfb39fcc046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("baseline_metrics", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("feature_importance", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("feature_importance")
        batch_op.drop_column("baseline_metrics")
