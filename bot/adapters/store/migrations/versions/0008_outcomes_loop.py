"""Learning from outcomes: the cost ledger (`cost_call`: one row per paid platform call, with its price) and
post metrics (`post_metric`: one reading per delivered post or reply and age, +1 h / +24 h / +7 d).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID_LENGTH = 512  # tables.ID_LENGTH as of 0005


def upgrade() -> None:
    op.create_table(
        "cost_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("usd", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_index("ix_cost_call_day", "cost_call", ["account", "day"])
    op.create_index("ix_cost_call_at", "cost_call", ["at"])
    op.create_table(
        "post_metric",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("post_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("outbox_key", sa.String(300)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("campaign", sa.String(200)),
        sa.Column("variant", sa.String(200)),
        sa.Column("slot_at", UTCDateTime()),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("age", sa.String(20), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reposts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("replies", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("quotes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bookmarks", sa.Integer()),
        sa.Column("impressions", sa.Integer()),
        sa.Column("link_clicks", sa.Integer()),
        sa.Column("profile_clicks", sa.Integer()),
        sa.Column("followers", sa.Integer()),
        sa.UniqueConstraint("account", "post_id", "age", name="uq_post_metric_reading"),
    )
    op.create_index("ix_post_metric_posted", "post_metric", ["account", "posted_at"])
    op.create_index("ix_post_metric_campaign", "post_metric", ["campaign", "posted_at"])


def downgrade() -> None:
    op.drop_table("post_metric")
    op.drop_table("cost_call")
