"""matching: agreements, imported partner data (sealed), runs, leads and their history

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("matching",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "matching_agreements",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("program", sa.String(length=24), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("legal_authority", sa.String(length=300), nullable=False),
        sa.Column("agency_fields", sa.JSON(), nullable=False),
        sa.Column("partner_fields", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("original_ends_on", sa.Date(), nullable=False),
        sa.Column("renewals", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("destroy_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approver_id", sa.String(length=40), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewed_by", sa.String(length=40), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=40), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_by", sa.String(length=40), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_rows", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "state <> 'approved' OR approver_id IS NOT NULL", name=op.f("ck_matching_agreements_approved")
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'approved', 'revoked', 'destroyed')", name=op.f("ck_matching_agreements_state")
        ),
        sa.CheckConstraint(
            "approver_id IS NULL OR approver_id <> created_by", name=op.f("ck_matching_agreements_second_person")
        ),
        sa.CheckConstraint("destroy_on >= ends_on", name=op.f("ck_matching_agreements_destroyed_after_end")),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_matching_agreements_ends_after_start")),
        sa.CheckConstraint("ends_on >= original_ends_on", name=op.f("ck_matching_agreements_renewal_extends")),
        sa.CheckConstraint("renewals IN (0, 1)", name=op.f("ck_matching_agreements_one_renewal")),
        sa.CheckConstraint(
            "renewed_by IS NULL OR renewed_by <> created_by", name=op.f("ck_matching_agreements_second_person_renewal")
        ),
        sa.CheckConstraint("threshold > 0 AND threshold < 1", name=op.f("ck_matching_agreements_threshold")),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["principals.id"], name=op.f("fk_matching_agreements_approver_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["principals.id"], name=op.f("fk_matching_agreements_created_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["destroyed_by"], ["principals.id"], name=op.f("fk_matching_agreements_destroyed_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["principals.id"], name=op.f("fk_matching_agreements_partner_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["renewed_by"], ["principals.id"], name=op.f("fk_matching_agreements_renewed_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["principals.id"], name=op.f("fk_matching_agreements_revoked_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_agreements")),
    )
    with op.batch_alter_table("matching_agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_agreements_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matching_agreements_ref"), ["ref"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_matching_agreements_state_destroy_on"), ["state", "destroy_on"], unique=False
        )

    op.create_table(
        "matching_imports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", _ID, nullable=False),
        sa.Column("imported_by", sa.String(length=40), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("encoded_schema", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("file_format IN ('csv', 'parquet')", name=op.f("ck_matching_imports_file_format")),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["matching_agreements.id"],
            name=op.f("fk_matching_imports_agreement_id_matching_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["principals.id"], name=op.f("fk_matching_imports_imported_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_imports")),
    )
    with op.batch_alter_table("matching_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_imports_agreement_id_content_hash"), ["agreement_id", "content_hash"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_matching_imports_ref"), ["ref"], unique=True)

    op.create_table(
        "matching_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", _ID, nullable=False),
        sa.Column("program", sa.String(length=24), nullable=False),
        sa.Column("run_by", sa.String(length=40), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields_read", sa.JSON(), nullable=False),
        sa.Column("agency_rows", sa.BigInteger(), nullable=False),
        sa.Column("partner_records", sa.BigInteger(), nullable=False),
        sa.Column("pairs_compared", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("leads_new", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["matching_agreements.id"], name=op.f("fk_matching_runs_agreement_id_matching_agreements")
        ),
        sa.ForeignKeyConstraint(["run_by"], ["principals.id"], name=op.f("fk_matching_runs_run_by_principals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_runs")),
    )
    with op.batch_alter_table("matching_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_runs_agreement_id_started_at"), ["agreement_id", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_matching_runs_ref"), ["ref"], unique=True)

    op.create_table(
        "matching_leads",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", _ID, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("program", sa.String(length=24), nullable=False),
        sa.Column("entity_id", _ID, nullable=False),
        sa.Column("partner_token", sa.String(length=64), nullable=False),
        sa.Column("finding_key", sa.String(length=64), nullable=False),
        sa.Column("tax_year", sa.SmallInteger(), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("agency_facts", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("verified_by", sa.String(length=40), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state = 'closed') = (outcome IS NOT NULL)", name=op.f("ck_matching_leads_closed_with_outcome")
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome <> 'adverse_action' OR notified_at IS NOT NULL",
            name=op.f("ck_matching_leads_notice_first"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('adverse_action', 'no_action', 'not_a_match')",
            name=op.f("ck_matching_leads_outcome"),
        ),
        sa.CheckConstraint(
            "state IN ('new', 'verified', 'notified', 'contested', 'closed')", name=op.f("ck_matching_leads_state")
        ),
        sa.CheckConstraint(
            "state NOT IN ('notified', 'contested') OR notified_at IS NOT NULL", name=op.f("ck_matching_leads_notified")
        ),
        sa.CheckConstraint(
            "state NOT IN ('verified', 'notified', 'contested') OR verified_by IS NOT NULL",
            name=op.f("ck_matching_leads_verified_by_a_person"),
        ),
        sa.CheckConstraint(
            "match_probability >= 0 AND match_probability <= 1", name=op.f("ck_matching_leads_probability")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["matching_agreements.id"],
            name=op.f("fk_matching_leads_agreement_id_matching_agreements"),
        ),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_matching_leads_entity_id_entities")),
        sa.ForeignKeyConstraint(["run_id"], ["matching_runs.id"], name=op.f("fk_matching_leads_run_id_matching_runs")),
        sa.ForeignKeyConstraint(
            ["verified_by"], ["principals.id"], name=op.f("fk_matching_leads_verified_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_leads")),
    )
    with op.batch_alter_table("matching_leads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_leads_agreement_id_entity_id_finding_key"),
            ["agreement_id", "entity_id", "finding_key"],
            unique=True,
        )
        batch_op.create_index(
            batch_op.f("ix_matching_leads_agreement_id_state"), ["agreement_id", "state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_matching_leads_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matching_leads_ref"), ["ref"], unique=True)
        batch_op.create_index(batch_op.f("ix_matching_leads_state_created_at"), ["state", "created_at"], unique=False)

    op.create_table(
        "matching_partner_rows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("agreement_id", _ID, nullable=False),
        sa.Column("import_id", _ID, nullable=False),
        sa.Column("record_token", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["matching_agreements.id"],
            name=op.f("fk_matching_partner_rows_agreement_id_matching_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["matching_imports.id"], name=op.f("fk_matching_partner_rows_import_id_matching_imports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_partner_rows")),
    )
    with op.batch_alter_table("matching_partner_rows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matching_partner_rows_agreement_id_record_token"),
            ["agreement_id", "record_token"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_matching_partner_rows_import_id"), ["import_id"], unique=False)

    op.create_table(
        "matching_lead_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("lead_id", _ID, nullable=False),
        sa.Column("from_state", sa.String(length=10), nullable=True),
        sa.Column("to_state", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["actor"], ["principals.id"], name=op.f("fk_matching_lead_events_actor_principals")),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["matching_leads.id"], name=op.f("fk_matching_lead_events_lead_id_matching_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_lead_events")),
    )
    with op.batch_alter_table("matching_lead_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_lead_events_lead_id_at"), ["lead_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("matching_lead_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_lead_events_lead_id_at"))

    op.drop_table("matching_lead_events")
    with op.batch_alter_table("matching_partner_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_partner_rows_import_id"))
        batch_op.drop_index(batch_op.f("ix_matching_partner_rows_agreement_id_record_token"))

    op.drop_table("matching_partner_rows")
    with op.batch_alter_table("matching_leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_leads_state_created_at"))
        batch_op.drop_index(batch_op.f("ix_matching_leads_ref"))
        batch_op.drop_index(batch_op.f("ix_matching_leads_entity_id"))
        batch_op.drop_index(batch_op.f("ix_matching_leads_agreement_id_state"))
        batch_op.drop_index(batch_op.f("ix_matching_leads_agreement_id_entity_id_finding_key"))

    op.drop_table("matching_leads")
    with op.batch_alter_table("matching_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_runs_ref"))
        batch_op.drop_index(batch_op.f("ix_matching_runs_agreement_id_started_at"))

    op.drop_table("matching_runs")
    with op.batch_alter_table("matching_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_imports_ref"))
        batch_op.drop_index(batch_op.f("ix_matching_imports_agreement_id_content_hash"))

    op.drop_table("matching_imports")
    with op.batch_alter_table("matching_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matching_agreements_state_destroy_on"))
        batch_op.drop_index(batch_op.f("ix_matching_agreements_ref"))
        batch_op.drop_index(batch_op.f("ix_matching_agreements_partner_id"))

    op.drop_table("matching_agreements")
