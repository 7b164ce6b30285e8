"""Platform ids of any length: Bluesky's are at-URIs (70 characters and more) and DIDs, not X's numbers.

Every column that holds a post, user or conversation id of a platform, a mentions cursor (its resume point holds
a post id) or a username goes from VARCHAR(64) / VARCHAR(100) to VARCHAR(512) / VARCHAR(300). On PostgreSQL
widening a VARCHAR is a catalogue change (no rewrite, indexes kept). SQLite does not enforce VARCHAR lengths, so
nothing is done there (rebuilding the tables would buy nothing).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID_LENGTH = 512
NAME_LENGTH = 300

# (table, column, nullable): ids (from VARCHAR(64))
IDS = [
    ("outbox", "in_reply_to_id", True),
    ("outbox", "recipient_id", True),
    ("outbox", "remote_id", True),
    ("outbox", "target_user_id", True),
    ("account_state", "platform_user_id", True),
    ("social_user", "user_id", False),
    ("mention", "platform_id", False),
    ("mention", "author_id", True),
    ("mention", "conversation_id", True),
    ("mention", "in_reply_to_user_id", True),
    ("mention", "replied_to_id", True),
    ("mention", "quoted_id", True),
    ("interaction", "source_user_id", False),
    ("interaction", "target_user_id", False),
    ("interaction", "post_id", False),
    ("cursor", "value", True),
    ("optout", "user_id", True),
    ("inbox", "mention_id", False),
    ("inbox", "user_id", True),
    ("engagement_post", "post_id", False),
    ("graph_score", "user_id", False),
    ("segment_member", "user_id", False),
    ("coupon", "user_id", False),
]
# usernames (from VARCHAR(100)): a Bluesky handle is a domain name, up to 253 characters
NAMES = [
    ("social_user", "username", True),
    ("optout", "username", True),
    ("inbox", "username", True),
]


def _alter(columns: list[tuple[str, str, bool]], old: int, new: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, nullable in columns:
        op.alter_column(table, column, type_=sa.String(new), existing_type=sa.String(old), existing_nullable=nullable)


def upgrade() -> None:
    _alter(IDS, 64, ID_LENGTH)
    _alter(NAMES, 100, NAME_LENGTH)


def downgrade() -> None:
    _alter(NAMES, NAME_LENGTH, 100)
    _alter(IDS, ID_LENGTH, 64)
