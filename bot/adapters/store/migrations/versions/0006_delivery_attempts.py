"""Attempts that count requests which left, and the indexes the delivery health check reads.

From 0006 on, a claim only leases an outbox row; `attempts` grows (and `outcome_unknown` is set) in the
transaction that lets one request leave, right before it leaves. A row left `sending` by an older version may
have had its request sent, so it is marked `outcome_unknown` here: it is reconciled before any new send.
`ix_outbox_created` and `ix_outbox_sent` let /healthz count what arrived and what was sent in the last minutes
per account (a backlog growing faster than it drains) with two index range scans.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE outbox SET outcome_unknown = :yes WHERE state = 'sending'").bindparams(yes=True))
    op.create_index("ix_outbox_created", "outbox", ["created_at"])
    op.create_index("ix_outbox_sent", "outbox", ["state", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent", table_name="outbox")
    op.drop_index("ix_outbox_created", table_name="outbox")
