"""console: one-time sign-in codes, the embedded issuer's authorization codes, console sessions

See ``taxvault/web/tables.py``. Secrets are stored only as keyed hashes.

Revision ID: 0017
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("console",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_sign_in_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_web_sign_in_codes_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_web_sign_in_codes")),
    )
    op.create_index(op.f("ix_web_sign_in_codes_expires_at"), "web_sign_in_codes", ["expires_at"])
    op.create_table(
        "web_auth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=300), nullable=False),
        sa.Column("code_challenge", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_web_auth_codes_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_web_auth_codes")),
    )
    op.create_index(op.f("ix_web_auth_codes_expires_at"), "web_auth_codes", ["expires_at"])
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_web_sessions_principal_id_principals")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_principal_id"), "web_sessions", ["principal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_principal_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_web_auth_codes_expires_at"), table_name="web_auth_codes")
    op.drop_table("web_auth_codes")
    op.drop_index(op.f("ix_web_sign_in_codes_expires_at"), table_name="web_sign_in_codes")
    op.drop_table("web_sign_in_codes")
