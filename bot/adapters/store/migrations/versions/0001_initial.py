"""Initial schema: outbox, campaign_slot, account_state, rate_limit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.adapters.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("in_reply_to_id", sa.String(64)),
        sa.Column("recipient_id", sa.String(64)),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("attempt_started_at", UTCDateTime()),
        sa.Column("outcome_unknown", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("remote_id", sa.String(64)),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("campaign", sa.String(200)),
        sa.Column("slot_at", UTCDateTime()),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_claim", "outbox", ["state", "next_attempt_at", "id"])
    op.create_index("ix_outbox_lease", "outbox", ["state", "lease_until"])
    op.create_index("ix_outbox_account_sent", "outbox", ["account", "kind", "state", "sent_at"])
    op.create_index("ix_outbox_account_hash", "outbox", ["account", "text_hash"])

    op.create_table(
        "campaign_slot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("slot_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("outbox_key", sa.String(300)),
        sa.Column("text_hash", sa.String(64)),
        sa.Column("variant", sa.String(200)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("campaign", "slot_at", name="uq_campaign_slot"),
    )
    op.create_index("ix_campaign_slot_outbox_key", "campaign_slot", ["outbox_key"])

    op.create_table(
        "account_state",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("platform_user_id", sa.String(64)),
        sa.Column("paused_reason", sa.Text()),
        sa.Column("paused_at", UTCDateTime()),
    )

    op.create_table(
        "rate_limit",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("endpoint", sa.String(100), primary_key=True),
        sa.Column("remaining", sa.Integer()),
        sa.Column("reset_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limit")
    op.drop_table("account_state")
    op.drop_index("ix_campaign_slot_outbox_key", table_name="campaign_slot")
    op.drop_table("campaign_slot")
    for name in ("ix_outbox_account_hash", "ix_outbox_account_sent", "ix_outbox_lease", "ix_outbox_claim"):
        op.drop_index(name, table_name="outbox")
    op.drop_table("outbox")
