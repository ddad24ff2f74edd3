"""Export the stored log for the independent verifier, or feed the verifier from the store.

The export is what oversight takes away: every event as stored, every STH with
the consistency proof from the one before, every stored hash (leaf hashes,
subtree nodes, the tree state: the verifier recomputes each from the events and
names the first index that differs) and the public key. The format is described
in :mod:`taxvault.audit.verifier`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from taxvault.audit import stored
from taxvault.audit.errors import AuditError, AuditExportError, AuditKeyError
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import SignedTreeHead, public_key_pem
from taxvault.audit.storage import snapshot
from taxvault.audit.verifier import (
    CHUNK_LEVEL,
    EXPORT_FORMAT,
    PROGRESS_EVERY,
    ExportedSth,
    Progress,
    VerificationReport,
    load_public_key,
    verify_log,
)
from taxvault.files import open_private, private_dir, write_private_bytes, write_private_text


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
        private_dir(directory)  # the export holds every access event: owner-only (0700, files 0600)
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
            row = stored.tree_row(conn)
            tree_size, frontier, root = row if row is not None else (0, b"", b"")
            with open_private(directory / "events.tsv", "wb") as fh:
                for index, data in log.store.iter_events(conn):
                    fh.write(b"%d\t%s\n" % (index, data))
                    count += 1
                    if progress is not None and count % 100_000 == 0:
                        progress(count)
            with open_private(directory / "leaf_hashes.bin", "wb") as fh:
                for h in stored.iter_leaf_hashes(conn, stored.open_leaves(tree_size, frontier)):
                    fh.write(h)
            layout, extra, node_hashes = stored.export_nodes(conn, count)
            with open_private(directory / "nodes.bin", "wb") as fh:
                for h in node_hashes:
                    fh.write(h)
        tree = {
            "tree_size": tree_size,
            "frontier": frontier.hex(),
            "root_hash": root.hex(),
            "nodes": layout,
            "extra_nodes": extra,
        }
        write_private_text(directory / "tree.json", json.dumps(tree, sort_keys=True) + "\n")
        with open_private(directory / "sths.jsonl", "w", encoding="utf-8") as fh:
            for sth in sths:
                fh.write(json.dumps(_sth_json(sth), sort_keys=True) + "\n")
        write_private_bytes(directory / "public_key.pem", public_key_pem(log.signer.public_key))
        manifest = {
            "format": EXPORT_FORMAT,
            "version": 1,
            "tree_size": tree_size,
            "events": count,
            "sths": len(sths),
            "hashing": "RFC 9162 section 2.1, SHA-256",
            "signature": "Ed25519 over RFC 9162 TreeHeadDataV2",
        }
        write_private_text(directory / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise AuditExportError(f"cannot write the export to {directory}: {exc}") from None
    return ExportSummary(directory, count, len(sths), tree_size)


def verify_store(
    log: AuditLog,
    public_key_pem_bytes: bytes | None = None,
    *,
    check_events: bool = False,
    trusted: Sequence[ExportedSth] = (),
    sth_interval: float | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
    chunk_level: int = CHUNK_LEVEL,
) -> VerificationReport:
    """Run the independent verifier directly on the store (no export files).

    Everything is read in one snapshot (a head signed meanwhile is not mistaken for
    truncation) and every stored hash is recomputed from the events: leaf hashes,
    subtree nodes, the tree state, each STH's root and each ``trusted`` head's root,
    never trusting a stored hash. The trusted key defaults to the local signing key's
    public half; with no key at all, only a log without heads can verify.
    ``sth_interval`` is the longest an event may stay unsigned (None: not checked).
    ``progress`` follows the phases (:data:`~taxvault.audit.verifier.Progress`; the stored tree
    size is the expected event count); a smaller ``chunk_level`` reports more often, same result.
    """
    if public_key_pem_bytes is not None:
        public = load_public_key(public_key_pem_bytes)
    else:
        try:
            public = log.public_key()
        except AuditKeyError:
            public = None
    with snapshot(log.store.engine) as conn:
        sths = [
            ExportedSth(s.tree_size, s.timestamp_ms, s.root_hash, s.signature, s.key_id, None)
            for s in log.store.sths(conn)
        ]
        tree, tail = stored.stored_tree(conn)
        events: Iterator[tuple[int, bytes]] = log.store.iter_events(conn)

        def hints() -> Iterable[bytes]:
            return stored.iter_leaf_hashes(conn, tail)

        report = verify_log(
            events,
            sths,
            public,
            hints,
            check_events=check_events,
            tree=tree,
            trusted=trusted,
            sth_interval=sth_interval,
            check_proofs=False,  # every STH root is recomputed from the events instead
            progress=progress,
            expected_events=tree.tree_size,
            progress_every=progress_every,
            chunk_level=chunk_level,
        )
    if public is None and not report.sths and report.events:
        report.notes.append("no audit signing key: no tree head was ever signed")
    return report


def export_size(directory: Path) -> int:
    """Bytes on disk of an export (for the benchmark report)."""
    return sum(os.path.getsize(p) for p in Path(directory).iterdir())
