"""Coupons to the people they change (`target: uplift`): each coupon row records how its person was chosen
(choice: "ranked", the top of the uplift ranking; "explored", the exploration slice drawn at random from the
rest; "segment", the whole-segment fallback of an uplift campaign without enough history; NULL: a campaign
targeting its segments, or a holdout row).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coupon") as batch:
        batch.add_column(sa.Column("choice", sa.String(20)))


def downgrade() -> None:
    with op.batch_alter_table("coupon") as batch:
        batch.drop_column("choice")
