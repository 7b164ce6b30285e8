"""Audience graph: engagement collection state, read budget, job leases, graph snapshots; follower counts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("social_user") as batch:
        batch.add_column(sa.Column("followers_count", sa.Integer()))

    op.create_table(
        "engagement_post",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("post_id", sa.String(64), primary_key=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("last_collected_at", UTCDateTime()),
        sa.Column("likes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retweets", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("quotes", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "read_budget",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "graph_snapshot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("n_users", sa.Integer(), nullable=False),
        sa.Column("n_edges", sa.Integer(), nullable=False),
        sa.Column("n_interactions", sa.Integer(), nullable=False),
        sa.Column("n_communities", sa.Integer(), nullable=False),
        sa.Column("modularity", sa.Float(), nullable=False),
        sa.Column("reciprocity", sa.Float(), nullable=False),
        sa.Column("params", sa.JSON()),
        sa.Column("stats", sa.JSON()),
    )
    op.create_index("ix_graph_snapshot_created_at", "graph_snapshot", ["created_at"])
    op.create_table(
        "graph_score",
        sa.Column("snapshot_id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("pagerank", sa.Float(), nullable=False),
        sa.Column("in_strength", sa.Float(), nullable=False),
        sa.Column("hub", sa.Float(), nullable=False),
        sa.Column("authority", sa.Float(), nullable=False),
        sa.Column("betweenness", sa.Float(), nullable=False),
        sa.Column("followers", sa.Integer()),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("community", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON()),
    )
    op.create_index("ix_graph_score_user", "graph_score", ["platform", "user_id", "snapshot_id"])
    op.create_table(
        "graph_community",
        sa.Column("snapshot_id", sa.Integer(), primary_key=True),
        sa.Column("community", sa.Integer(), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("internal_share", sa.Float(), nullable=False),
        sa.Column("top_members", sa.JSON()),
        sa.Column("top_terms", sa.JSON()),
    )


def downgrade() -> None:
    op.drop_table("graph_community")
    op.drop_index("ix_graph_score_user", table_name="graph_score")
    op.drop_table("graph_score")
    op.drop_index("ix_graph_snapshot_created_at", table_name="graph_snapshot")
    op.drop_table("graph_snapshot")
    op.drop_table("job_lease")
    op.drop_table("read_budget")
    op.drop_table("engagement_post")
    with op.batch_alter_table("social_user") as batch:
        batch.drop_column("followers_count")
