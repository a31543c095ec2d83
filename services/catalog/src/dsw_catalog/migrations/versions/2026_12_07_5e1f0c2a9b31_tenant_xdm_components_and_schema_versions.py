"""tenant XDM components and schema versions

Revision ID: 5e1f0c2a9b31
Revises: 81a712a71698
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dsw_kit.db

revision: str = "5e1f0c2a9b31"
down_revision: str | None = "81a712a71698"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "xdm_components",
        sa.Column("xdm_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("component_version", sa.Integer(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created", dsw_kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated", dsw_kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("sandbox", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("xdm_components", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_xdm_components_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_xdm_components_sandbox"), ["sandbox"], unique=False)
        batch_op.create_index(batch_op.f("ix_xdm_components_xdm_id"), ["xdm_id"], unique=False)
    with op.batch_alter_table("schemas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("components", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("schema_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("history", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schema_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("schema_version")
    with op.batch_alter_table("schemas", schema=None) as batch_op:
        batch_op.drop_column("history")
        batch_op.drop_column("schema_version")
        batch_op.drop_column("components")
    with op.batch_alter_table("xdm_components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xdm_components_xdm_id"))
        batch_op.drop_index(batch_op.f("ix_xdm_components_sandbox"))
        batch_op.drop_index(batch_op.f("ix_xdm_components_org_id"))
    op.drop_table("xdm_components")
