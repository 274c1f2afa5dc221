"""screen sessions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

The screens under /app/ sign in once per device with an API key and then carry a session
cookie. A session is kept by the hash of its cookie (the cookie itself is never stored),
with the key it was opened with (so revoking the key ends it), the role it had, the CSRF
token its forms carry and when it expires.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screen_sessions",
        sa.Column("session_hash", sa.Text, primary_key=True),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_screen_sessions_key_id", "screen_sessions", ["key_id"])


def downgrade() -> None:
    op.drop_table("screen_sessions")
