"""store settings: what a store may hold (``synthetic``), chosen at ``taxvault init``

Revision ID: 0016
Revises: 0001

Every store made before this revision was a demo store (``./dev up``, the tests,
the benches): it gets ``synthetic = true``. ``taxvault init`` on a new store then
writes the value asked for (``--synthetic``, or real data by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("store_settings",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    settings = op.create_table(
        "store_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_settings")),
    )
    op.bulk_insert(settings, [{"name": "synthetic", "value": "true"}])


def downgrade() -> None:
    op.drop_table("store_settings")
