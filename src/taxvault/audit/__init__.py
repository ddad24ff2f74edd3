"""The tamper-evident access log: RFC 9162 Merkle tree, signed tree heads, proofs, verifier.

The Gate calls :meth:`AuditLog.append` on every request (granted or denied) and
refuses to answer if it raises :class:`AuditAppendError`. Oversight verifies
exports with :mod:`taxvault.audit.verifier`, which depends on nothing else here.
"""

from __future__ import annotations

from taxvault.audit.errors import (
    AuditAppendError,
    AuditError,
    AuditEventError,
    AuditExportError,
    AuditKeyError,
    AuditProofError,
    AuditStoreError,
)
from taxvault.audit.event import AuditEvent, Decision
from taxvault.audit.export import export_log, verify_store
from taxvault.audit.log import AuditLog, ConsistencyProof, InclusionProof, TreeHead
from taxvault.audit.periodic import PeriodicSigner
from taxvault.audit.signing import SignedTreeHead, TreeHeadSigner

__all__ = [
    "AuditAppendError",
    "AuditError",
    "AuditEvent",
    "AuditEventError",
    "AuditExportError",
    "AuditKeyError",
    "AuditLog",
    "AuditProofError",
    "AuditStoreError",
    "ConsistencyProof",
    "Decision",
    "InclusionProof",
    "PeriodicSigner",
    "SignedTreeHead",
    "TreeHead",
    "TreeHeadSigner",
    "export_log",
    "verify_store",
]
