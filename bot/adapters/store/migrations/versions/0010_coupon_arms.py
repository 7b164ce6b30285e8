"""Discount depths that learn: each coupon row records its arm (the depth the person was drawn, e.g. "10%") and
the probability that treatment was drawn with (propensity: the depth's, times the share not held out; a holdout
row: the holdout share), so any policy can be evaluated offline later.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coupon") as batch:
        batch.add_column(sa.Column("arm", sa.String(40)))
        batch.add_column(sa.Column("propensity", sa.Float()))
    op.create_index("ix_coupon_arm", "coupon", ["campaign", "segment_id", "arm"])


def downgrade() -> None:
    op.drop_index("ix_coupon_arm", table_name="coupon")
    with op.batch_alter_table("coupon") as batch:
        batch.drop_column("propensity")
        batch.drop_column("arm")
