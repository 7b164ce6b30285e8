"""When engagement arrived: `post_metric_hour`, one row per post and hour of X's time-bucketed analytics
(GET /2/tweets/analytics, granularity=hourly) over the post's first week, read with its last metrics reading.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID_LENGTH = 512  # tables.ID_LENGTH as of 0005


def upgrade() -> None:
    op.create_table(
        "post_metric_hour",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("post_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("engagements", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("impressions", sa.Integer()),
        sa.Column("url_clicks", sa.Integer()),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account", "post_id", "hour", name="uq_post_metric_hour"),
    )
    op.create_index("ix_post_metric_hour_account", "post_metric_hour", ["account", "hour", "engagements"])


def downgrade() -> None:
    op.drop_table("post_metric_hour")
