"""Errors of the audit log, each with its own type so the Gate can tell them apart.

The Gate must refuse to answer when an append fails, so :class:`AuditAppendError`
is the one it catches; the others signal misuse or a damaged log.
"""

from __future__ import annotations


class AuditError(RuntimeError):
    """Base class of every audit-log error."""


class AuditEventError(AuditError, ValueError):
    """An audit event is malformed (missing field, naive time, a TIN where an opaque id belongs)."""


class AuditAppendError(AuditError):
    """An event could not be made durable; the caller must fail closed."""


class AuditProofError(AuditError, ValueError):
    """A proof was asked for sizes or indexes the log does not have."""


class AuditKeyError(AuditError):
    """The signing key is missing, unreadable, or readable by others."""


class AuditStoreError(AuditError):
    """The store holds no audit tables, or their state contradicts itself."""


class AuditExportError(AuditError):
    """An export directory cannot be written or read."""
