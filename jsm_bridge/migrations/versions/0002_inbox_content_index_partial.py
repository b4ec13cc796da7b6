"""The inbox's content_hash index covers only deliveries without an identifier.

Only those are compared by content (within the dedupe window); a delivery with an identifier is
compared by it. Every identified delivery used to add an entry at a random place of this index too:
one more page to read, write to the WAL and checkpoint per webhook on the receiver's hot path.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NO_IDENTIFIER = sa.text("delivery_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_inbox_content_hash", table_name="inbox")
    op.create_index(
        "ix_inbox_content_hash",
        "inbox",
        ["content_hash"],
        sqlite_where=_NO_IDENTIFIER,
        postgresql_where=_NO_IDENTIFIER,
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_content_hash", table_name="inbox")
    op.create_index("ix_inbox_content_hash", "inbox", ["content_hash"])
