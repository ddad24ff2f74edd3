"""Export the stored log for the independent verifier, or feed the verifier from the store.

The export is what oversight takes away: every event as stored, every STH with
the consistency proof from the one before, the stored leaf hashes (hints that let
the verifier name the exact edited index) and the public key. The format is
described in :mod:`taxvault.audit.verifier`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from taxvault.audit.errors import AuditError, AuditExportError
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import SignedTreeHead, public_key_pem
from taxvault.audit.storage import snapshot
from taxvault.audit.verifier import (
    EXPORT_FORMAT,
    ExportedSth,
    VerificationReport,
    load_public_key,
    verify_log,
)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    directory: Path
    events: int
    sths: int
    tree_size: int


def _with_proofs(log: AuditLog, sths: list[SignedTreeHead]) -> list[ExportedSth]:
    out: list[ExportedSth] = []
    for k, sth in enumerate(sths):
        proof: list[bytes] | None = []
        if k:
            try:
                proof = log.consistency_proof(sths[k - 1].tree_size, sth.tree_size).path
            except AuditError:  # sizes the store no longer holds: the verifier reports it
                proof = None
        out.append(ExportedSth(sth.tree_size, sth.timestamp_ms, sth.root_hash, sth.signature, sth.key_id, proof))
    return out


def _sth_json(sth: ExportedSth) -> dict[str, object]:
    proof = sth.consistency_from_previous
    return {
        "tree_size": sth.tree_size,
        "timestamp_ms": sth.timestamp_ms,
        "root_hash": sth.root_hash.hex(),
        "signature": sth.signature.hex(),
        "key_id": sth.key_id,
        "consistency_from_previous": None if proof is None else [h.hex() for h in proof],
    }


def export_log(
    log: AuditLog,
    directory: Path,
    *,
    sign: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write the whole log to ``directory`` (created; must be empty); signs a fresh STH first if ``sign``."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise AuditExportError(f"export directory {directory} is not empty")
    except OSError as exc:
        raise AuditExportError(f"cannot create export directory {directory}: {exc}") from None
    if sign:
        log.sign_tree_head()
    sths = _with_proofs(log, log.signed_tree_heads())
    count = 0
    try:
        with snapshot(log.store.engine) as conn:
            tree_size = log.store.state(conn).size
            with (directory / "events.tsv").open("wb") as fh:
                for index, data in log.store.iter_events(conn):
                    fh.write(b"%d\t%s\n" % (index, data))
                    count += 1
                    if progress is not None and count % 100_000 == 0:
                        progress(count)
            with (directory / "leaf_hashes.bin").open("wb") as fh:
                for h in log.store.iter_leaf_hashes(conn):
                    fh.write(h)
        with (directory / "sths.jsonl").open("w", encoding="utf-8") as fh:
            for sth in sths:
                fh.write(json.dumps(_sth_json(sth), sort_keys=True) + "\n")
        (directory / "public_key.pem").write_bytes(public_key_pem(log.signer.public_key))
        manifest = {
            "format": EXPORT_FORMAT,
            "version": 1,
            "tree_size": tree_size,
            "events": count,
            "sths": len(sths),
            "hashing": "RFC 9162 section 2.1, SHA-256",
            "signature": "Ed25519 over RFC 9162 TreeHeadDataV2",
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise AuditExportError(f"cannot write the export to {directory}: {exc}") from None
    return ExportSummary(directory, count, len(sths), tree_size)


def verify_store(
    log: AuditLog, public_key_pem_bytes: bytes | None = None, *, check_events: bool = False
) -> VerificationReport:
    """Run the independent verifier directly on the store (no export files).

    The trusted key defaults to the local signing key's public half.
    """
    public = log.public_key() if public_key_pem_bytes is None else load_public_key(public_key_pem_bytes)
    sths = _with_proofs(log, log.signed_tree_heads())
    with snapshot(log.store.engine) as conn:
        events: Iterator[tuple[int, bytes]] = log.store.iter_events(conn)

        def hints() -> Iterable[bytes]:
            return _hints_from(log)

        return verify_log(events, sths, public, hints, check_events=check_events)


def _hints_from(log: AuditLog) -> Iterator[bytes]:
    with snapshot(log.store.engine) as conn:
        yield from log.store.iter_leaf_hashes(conn)


def export_size(directory: Path) -> int:
    """Bytes on disk of an export (for the benchmark report)."""
    return sum(os.path.getsize(p) for p in Path(directory).iterdir())
