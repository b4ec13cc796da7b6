"""The first schema: inbox, action ledger, ticket cache, sweep runs, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jsm_bridge.store import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(200), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("issue_key", sa.String(100), nullable=True),
        sa.Column("flavor", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("delivery_id", name="uq_inbox_delivery_id"),
    )
    op.create_index("ix_inbox_content_hash", "inbox", ["content_hash"])
    op.create_index("ix_inbox_state_next_attempt_at", "inbox", ["state", "next_attempt_at"])

    op.create_table(
        "action_ledger",
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("ticket", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("action", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_action_ledger"),
    )
    op.create_index("ix_action_ledger_ticket", "action_ledger", ["ticket"])
    op.create_index("ix_action_ledger_state_claimed_at", "action_ledger", ["state", "claimed_at"])

    op.create_table(
        "ticket_cache",
        sa.Column("ticket", sa.String(100), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=True),
        sa.Column("next_due", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ticket", "policy", name="pk_ticket_cache"),
    )
    op.create_index("ix_ticket_cache_next_due", "ticket_cache", ["next_due"])

    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("tickets", sa.Integer, nullable=True),
        sa.Column("actions", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sweep_runs"),
    )
    op.create_index("ix_sweep_runs_policy", "sweep_runs", ["policy"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    for table in ("leases", "sweep_runs", "ticket_cache", "action_ledger", "inbox"):
        op.drop_table(table)
