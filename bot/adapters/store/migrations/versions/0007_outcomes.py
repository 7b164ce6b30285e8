"""Every mention and DM ends in one outcome; every inbox item says why a person must look.

`mention.decision` (replied | skipped) becomes `mention.outcome` (answered | handed_over | not_answered): a
mention with an inbox item was handed over, else one with a reply was answered, else it was not answered (its
`reason` already says which rule decided). `inbox.reason` is new; older items get their intent as the reason
("complaint"). `ix_mention_outcome` lets `socialbot mentions --outcome` and /metrics count without a scan.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("ALTER TABLE mention RENAME COLUMN decision TO outcome"))
    op.add_column("inbox", sa.Column("reason", sa.Text(), nullable=True))
    op.execute(
        sa.text("UPDATE mention SET outcome = CASE WHEN outcome = 'replied' THEN 'answered' ELSE 'not_answered' END")
    )
    op.execute(
        sa.text(
            "UPDATE mention SET outcome = 'handed_over' WHERE EXISTS (SELECT 1 FROM inbox WHERE "
            "inbox.account = mention.account AND inbox.kind = mention.kind AND inbox.mention_id = mention.platform_id)"
        )
    )
    op.execute(sa.text("UPDATE inbox SET reason = intent WHERE reason IS NULL"))
    op.create_index("ix_mention_outcome", "mention", ["outcome", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_mention_outcome", table_name="mention")
    op.execute(
        sa.text("UPDATE mention SET outcome = CASE WHEN reply_key IS NOT NULL THEN 'replied' ELSE 'skipped' END")
    )
    op.execute(sa.text("ALTER TABLE mention RENAME COLUMN outcome TO decision"))
    op.drop_column("inbox", "reason")
