"""Mentions and replies: social_user, mention, interaction, cursor, optout, inbox; outbox target columns.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("target_platform", sa.String(20)))
        batch.add_column(sa.Column("target_user_id", sa.String(64)))
    op.create_index("ix_outbox_remote", "outbox", ["account", "remote_id"])

    op.create_table(
        "social_user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(100)),
        sa.Column("name", sa.Text()),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("platform", "user_id", name="uq_social_user"),
    )

    op.create_table(
        "mention",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("platform_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime()),
        sa.Column("conversation_id", sa.String(64)),
        sa.Column("in_reply_to_user_id", sa.String(64)),
        sa.Column("replied_to_id", sa.String(64)),
        sa.Column("quoted_id", sa.String(64)),
        sa.Column("mentions", sa.JSON()),
        sa.Column("hashtags", sa.JSON()),
        sa.Column("urls", sa.JSON()),
        sa.Column("intent", sa.String(50)),
        sa.Column("sentiment", sa.Float()),
        sa.Column("language", sa.String(20)),
        sa.Column("summoned", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("reply_key", sa.String(300)),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account", "kind", "platform_id", name="uq_mention"),
    )
    op.create_index("ix_mention_author", "mention", ["account", "author_id", "seen_at"])
    op.create_index("ix_mention_conversation", "mention", ["account", "conversation_id"])

    op.create_table(
        "interaction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("source_user_id", sa.String(64), nullable=False),
        sa.Column("target_user_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("post_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("platform", "kind", "post_id", "source_user_id", "target_user_id", name="uq_interaction"),
    )
    op.create_index("ix_interaction_pair", "interaction", ["source_user_id", "target_user_id"])
    op.create_index("ix_interaction_created", "interaction", ["created_at"])

    op.create_table(
        "cursor",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("stream", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(64)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "optout",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("username", sa.String(100)),
        sa.Column("user_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_hash", name="uq_optout_user_hash"),
    )

    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("mention_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("username", sa.String(100)),
        sa.Column("intent", sa.String(50)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("note", sa.Text()),
        sa.Column("webhook_status", sa.String(200)),
        sa.UniqueConstraint("account", "kind", "mention_id", name="uq_inbox_mention"),
    )
    op.create_index("ix_inbox_status", "inbox", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_status", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("optout")
    op.drop_table("cursor")
    op.drop_index("ix_interaction_created", table_name="interaction")
    op.drop_index("ix_interaction_pair", table_name="interaction")
    op.drop_table("interaction")
    op.drop_index("ix_mention_conversation", table_name="mention")
    op.drop_index("ix_mention_author", table_name="mention")
    op.drop_table("mention")
    op.drop_table("social_user")
    op.drop_index("ix_outbox_remote", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("target_user_id")
        batch.drop_column("target_platform")
