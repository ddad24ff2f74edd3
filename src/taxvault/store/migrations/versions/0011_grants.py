"""grants: a lifecycle (requested, approved by a second person, renewed once, revoked), exports, canaries, certificates

Existing grants keep their state; they were approved already (``approver_id`` set), and
their requester is taken to be the holder. On SQLite the grants table is rebuilt from
its known definition (``copy_from``: the CHECK constraints are carried, not guessed).
See ``taxvault/oversight/grants.py``.

Revision ID: 0011
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("grants",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NEW_COLUMNS: tuple[tuple[str, sa.String | sa.DateTime], ...] = (
    ("requested_by", sa.String(length=40)),
    ("reason", sa.String(length=500)),
    ("approved_at", sa.DateTime(timezone=True)),
    ("renewed_by", sa.String(length=40)),
    ("renewed_at", sa.DateTime(timezone=True)),
    ("revoked_by", sa.String(length=40)),
    ("revoked_at", sa.DateTime(timezone=True)),
    ("ended_reason", sa.String(length=200)),
    ("shredded_at", sa.DateTime(timezone=True)),
)
_PEOPLE = ("requested_by", "renewed_by", "revoked_by")
_NEW_CHECKS = {
    "approver_not_requester": "approver_id <> requested_by",
    "renewer_not_holder": "renewed_by <> principal_id",
    "approved": "state IN ('requested', 'revoked') OR approver_id IS NOT NULL",
    "renewed_once": "renewals BETWEEN 0 AND 1",
}


def _grants_0001() -> sa.Table:
    """The grants table as revision 0001 made it (what SQLite's rebuild starts from)."""
    meta = sa.MetaData()
    return sa.Table(
        "grants",
        meta,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approver_id", sa.String(length=40), nullable=False),
        sa.Column("renewals", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('active', 'expired', 'revoked')", name="ck_grants_state"),
        sa.CheckConstraint("approver_id <> principal_id", name="ck_grants_second_person"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_grants_ends_after_start"),
        sa.ForeignKeyConstraint(["approver_id"], ["principals.id"], name="fk_grants_approver_id_principals"),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"], name="fk_grants_principal_id_principals"),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.Index("ix_grants_approver_id", "approver_id"),
        sa.Index("ix_grants_principal_id_state", "principal_id", "state"),
        sa.Index("ix_grants_ref", "ref", unique=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("grants", copy_from=_grants_0001()) as batch_op:
        for name, type_ in _NEW_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.alter_column("approver_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column(
            "state", existing_type=sa.String(length=8), type_=sa.String(length=10), existing_nullable=False
        )
        batch_op.drop_constraint(op.f("ck_grants_state"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_grants_state"), "state IN ('requested', 'active', 'expired', 'revoked')"
        )
        for name, text in _NEW_CHECKS.items():
            batch_op.create_check_constraint(op.f(f"ck_grants_{name}"), text)
        for name in _PEOPLE:
            batch_op.create_foreign_key(op.f(f"fk_grants_{name}_principals"), "principals", [name], ["id"])
    grants = sa.table("grants", sa.column("requested_by"), sa.column("principal_id"))
    op.execute(grants.update().where(grants.c.requested_by.is_(None)).values(requested_by=grants.c.principal_id))

    op.create_table(
        "destruction_certificates",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("what", sa.String(length=80), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_by", sa.String(length=40), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_certificates")),
        sa.UniqueConstraint("digest", name=op.f("uq_destruction_certificates_digest")),
    )
    op.create_index(op.f("ix_destruction_certificates_what"), "destruction_certificates", ["what"])
    op.create_table(
        "exports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("grant_id", _ID, nullable=False),
        sa.Column("requested_by", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("canaries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("approver_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("produced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'produced', 'refused', 'shredded')", name=op.f("ck_exports_state")),
        sa.CheckConstraint("approver_id <> requested_by", name=op.f("ck_exports_second_person")),
        sa.CheckConstraint("records >= 0", name=op.f("ck_exports_records")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_exports_grant_id_grants")),
        sa.ForeignKeyConstraint(["requested_by"], ["principals.id"], name=op.f("fk_exports_requested_by_principals")),
        sa.ForeignKeyConstraint(["approver_id"], ["principals.id"], name=op.f("fk_exports_approver_id_principals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint("ref", name=op.f("uq_exports_ref")),
    )
    op.create_index(op.f("ix_exports_grant_id"), "exports", ["grant_id"])
    op.create_index(op.f("ix_exports_requested_by_created_at"), "exports", ["requested_by", "created_at"])
    op.create_table(
        "export_canaries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("export_id", _ID, nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("tin_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["exports.id"], name=op.f("fk_export_canaries_export_id_exports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_canaries")),
        sa.UniqueConstraint("ref", name=op.f("uq_export_canaries_ref")),
        sa.UniqueConstraint("tin_hash", name=op.f("uq_export_canaries_tin_hash")),
    )
    op.create_index(op.f("ix_export_canaries_export_id"), "export_canaries", ["export_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_export_canaries_export_id"), table_name="export_canaries")
    op.drop_table("export_canaries")
    op.drop_index(op.f("ix_exports_requested_by_created_at"), table_name="exports")
    op.drop_index(op.f("ix_exports_grant_id"), table_name="exports")
    op.drop_table("exports")
    op.drop_index(op.f("ix_destruction_certificates_what"), table_name="destruction_certificates")
    op.drop_table("destruction_certificates")
    grants = sa.table("grants", sa.column("state"))
    op.execute(grants.delete().where(grants.c.state == "requested"))  # never approved: nothing to keep
    with op.batch_alter_table("grants") as batch_op:
        for name in _PEOPLE:
            batch_op.drop_constraint(op.f(f"fk_grants_{name}_principals"), type_="foreignkey")
        for name in _NEW_CHECKS:
            batch_op.drop_constraint(op.f(f"ck_grants_{name}"), type_="check")
        batch_op.drop_constraint(op.f("ck_grants_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_grants_state"), "state IN ('active', 'expired', 'revoked')")
        batch_op.alter_column("state", existing_type=sa.String(length=10), type_=sa.String(length=8))
        batch_op.alter_column("approver_id", existing_type=sa.String(length=40), nullable=False)
        for name, _ in reversed(_NEW_COLUMNS):
            batch_op.drop_column(name)
