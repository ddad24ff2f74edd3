"""The console's tables: one-time sign-in codes, the embedded issuer's authorization codes, sessions.

Why in the store (not in memory): the CLI mints a sign-in code in one process and the
server redeems it in another; sessions survive a restart and work with several workers.
Every secret is stored only as a keyed hash (HMAC-SHA256 under a key in the keys dir).
"""

from __future__ import annotations

import sqlalchemy as sa

from taxvault.store.tables import metadata

web_sign_in_codes = sa.Table(
    "web_sign_in_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(None, "expires_at"),
)

web_auth_codes = sa.Table(
    "web_auth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.String(300), nullable=False),
    sa.Column("code_challenge", sa.String(64), nullable=False),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(None, "expires_at"),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("purpose", sa.String(40), nullable=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "principal_id"),
)
