"""Audience segments and coupons: segment runs, segments, members; coupon budget, coupons, redemptions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("n_users", sa.Integer(), nullable=False),
        sa.Column("silhouette", sa.Float()),
        sa.Column("graph_snapshot_id", sa.Integer()),
        sa.Column("params", sa.JSON()),
        sa.Column("stats", sa.JSON()),
    )
    op.create_index("ix_segment_run_created_at", "segment_run", ["created_at"])
    op.create_table(
        "segment",
        sa.Column("run_id", sa.Integer(), primary_key=True),
        sa.Column("segment_id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("centroid", sa.JSON()),
    )
    op.create_table(
        "segment_member",
        sa.Column("run_id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("distance", sa.Float()),
    )
    op.create_index("ix_segment_member_user", "segment_member", ["platform", "user_id", "run_id"])
    op.create_table(
        "coupon_budget",
        sa.Column("campaign", sa.String(200), primary_key=True),
        sa.Column("issued", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("held_out", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "coupon",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("segment_id", sa.Integer()),
        sa.Column("holdout", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("code", sa.String(64)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(20)),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("outbox_key", sa.String(300)),
        sa.Column("redeemed_at", UTCDateTime()),
        sa.Column("order_id", sa.String(100)),
        sa.Column("amount", sa.Float()),
        sa.UniqueConstraint("campaign", "platform", "user_id", name="uq_coupon_person"),
        sa.UniqueConstraint("code", name="uq_coupon_code"),
    )
    op.create_index("ix_coupon_state", "coupon", ["campaign", "state"])
    op.create_index("ix_coupon_user", "coupon", ["platform", "user_id"])
    op.create_table(
        "redemption",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("amount", sa.Float()),
        sa.Column("redeemed_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("coupon_id", sa.Integer()),
        sa.Column("source", sa.String(300)),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("order_id", name="uq_redemption_order"),
    )


def downgrade() -> None:
    op.drop_table("redemption")
    op.drop_index("ix_coupon_user", table_name="coupon")
    op.drop_index("ix_coupon_state", table_name="coupon")
    op.drop_table("coupon")
    op.drop_table("coupon_budget")
    op.drop_index("ix_segment_member_user", table_name="segment_member")
    op.drop_table("segment_member")
    op.drop_table("segment")
    op.drop_index("ix_segment_run_created_at", table_name="segment_run")
    op.drop_table("segment_run")
