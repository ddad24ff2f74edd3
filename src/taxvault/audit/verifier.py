"""Independent verifier of an exported audit log. Standard library + ``cryptography`` only.

This module deliberately imports nothing from taxvault, so an auditor can copy
this one file and run ``python verifier.py EXPORT_DIR [--public-key KEY.pem]``
without trusting the code that wrote the log. It re-derives everything from
the exported events:

1. every signed tree head (STH) signature, with the trusted public key if given
   (else the key shipped in the export, which the report says);
2. consistency between each STH and the one before it (the exported RFC 9162
   consistency proof): a signed fork or rewrite shows up here;
3. the root of the first ``tree_size`` events, recomputed from scratch
   (RFC 9162 2.1.1 hashing), against every STH's root.

It names the first leaf index that does not verify. When only events were
edited, the exported leaf hashes (hints, not trusted) still chain to the signed
root and the index is exact; when hashes were rewritten too, the verifier can
only say the damage starts after the last STH that still verifies.

Export layout (``taxvault audit export DIR``): ``manifest.json``; ``events.tsv``
with one ``<leaf index>\\t<canonical event JSON>`` line per event (the JSON is
the leaf, byte for byte); ``leaf_hashes.bin`` with 32 bytes per stored leaf hash;
``sths.jsonl`` sorted by tree size, each carrying ``consistency_from_previous``;
``public_key.pem``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EXPORT_FORMAT = "taxvault-audit-log"
EMPTY_ROOT = hashlib.sha256(b"").digest()
_EVENT_KEYS = {
    "v",
    "time",
    "principal",
    "action",
    "resource",
    "purpose",
    "fields",
    "decision",
    "policy",
    "request_id",
}


class VerifierInputError(ValueError):
    """The export is unreadable or malformed (as opposed to readable but not verifying)."""


@dataclass(frozen=True, slots=True)
class ExportedSth:
    """An STH as exported, with the consistency proof from the STH before it."""

    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    signature: bytes
    key_id: str
    consistency_from_previous: list[bytes] | None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ExportedSth:
        """Parse one ``sths.jsonl`` line."""
        try:
            proof = obj.get("consistency_from_previous")
            return cls(
                tree_size=int(obj["tree_size"]),
                timestamp_ms=int(obj["timestamp_ms"]),
                root_hash=bytes.fromhex(obj["root_hash"]),
                signature=bytes.fromhex(obj["signature"]),
                key_id=str(obj.get("key_id", "")),
                consistency_from_previous=None if proof is None else [bytes.fromhex(h) for h in proof],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VerifierInputError(f"malformed STH: {exc}") from None

    def signed_message(self) -> bytes:
        """RFC 9162 TreeHeadDataV2, TLS-encoded, no extensions."""
        return struct.pack(">QQB", self.timestamp_ms, self.tree_size, len(self.root_hash)) + self.root_hash + b"\0\0"


@dataclass
class VerificationReport:
    """Outcome of a verification: ``ok``, and where it first fails."""

    events: int = 0
    sths: int = 0
    first_bad_index: int | None = None
    first_bad_sth: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verified_size: int = 0

    @property
    def ok(self) -> bool:
        """True when every STH is authentic, consistent and matches the events."""
        return not self.problems

    def summary(self) -> str:
        """One line for people."""
        if self.ok:
            return (
                f"OK: {self.events} events, {self.sths} signed tree heads verified "
                f"(events [0, {self.verified_size}) covered by a signature)"
            )
        where = []
        if self.first_bad_index is not None:
            where.append(f"first index that does not verify: {self.first_bad_index}")
        if self.first_bad_sth is not None:
            where.append(f"first bad STH: #{self.first_bad_sth}")
        return "FAILED: " + "; ".join(where) + f" ({len(self.problems)} problem(s))"


# -- RFC 9162 hashing, written out again here on purpose (no shared code) ---------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _fold(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = _node(h, r)
    return r


def _root_of_hashes(leaf_hashes: Iterable[bytes], size: int) -> bytes | None:
    """Root over the first ``size`` leaf hashes, or None if fewer are given."""
    frontier: list[bytes] = []
    n = 0
    for h in leaf_hashes:
        if n == size:
            break
        s = n
        while s & 1:
            h = _node(frontier.pop(), h)
            s >>= 1
        frontier.append(h)
        n += 1
    return _fold(frontier) if n == size else None


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2; equal sizes need equal roots, the empty tree is a prefix of any."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def _check_event(data: bytes) -> str | None:
    """Why ``data`` is not a canonical version-1 event, or None."""
    try:
        obj = json.loads(data)
    except ValueError:
        return "not JSON"
    if not isinstance(obj, dict) or set(obj) != _EVENT_KEYS:
        return "not the version-1 field set"
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return None if canonical == data else "not in canonical form"


# -- the verification proper --------------------------------------------------------------


def verify_log(
    events: Iterable[tuple[int, bytes]],
    sths: Sequence[ExportedSth],
    public_key: Ed25519PublicKey,
    leaf_hints: Callable[[], Iterable[bytes]] | None = None,
    *,
    check_events: bool = False,
) -> VerificationReport:
    """Verify events (leaf index, canonical bytes) in order against signed tree heads.

    ``leaf_hints`` gives the stored leaf hashes (untrusted) and is only used to name
    the exact index of an edit; it may be called twice.
    """
    report = VerificationReport(sths=len(sths))
    usable = _check_sths(sths, public_key, report)

    # One pass over the events: leaf hashes, the frontier, the root at every STH size.
    targets = sorted({sths[k].tree_size for k in usable})
    roots: dict[int, bytes] = {}
    next_target = 0
    while next_target < len(targets) and targets[next_target] == 0:
        roots[0] = EMPTY_ROOT
        next_target += 1
    hints = iter(leaf_hints()) if leaf_hints is not None else None
    first_gap: int | None = None
    first_hint_mismatch: int | None = None
    first_malformed: int | None = None
    frontier: list[bytes] = []
    sha = hashlib.sha256
    n = 0
    for index, data in events:
        if index != n and first_gap is None:
            first_gap = n
            report.problems.append(f"position {n} holds leaf index {index}: an event was deleted or inserted")
        h = sha(b"\x00" + data).digest()
        if hints is not None and next(hints, None) != h and first_hint_mismatch is None:
            first_hint_mismatch = n
        if check_events and first_malformed is None:
            why = _check_event(data)
            if why is not None:
                first_malformed = n
                report.problems.append(f"event {n} is {why}")
        s = n
        while s & 1:
            h = sha(b"\x01" + frontier.pop() + h).digest()
            s >>= 1
        frontier.append(h)
        n += 1
        if next_target < len(targets) and n == targets[next_target]:
            roots[n] = _fold(frontier)
            next_target += 1
    report.events = n

    candidates = [i for i in (first_gap, first_malformed) if i is not None]
    verified = 0
    first_failure: int | None = None
    for k in usable:
        sth = sths[k]
        if sth.tree_size > n:
            report.problems.append(
                f"STH #{k} covers {sth.tree_size} events but the log holds {n}: events from {n} are missing"
            )
            candidates.append(n)
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
        elif roots[sth.tree_size] != sth.root_hash:
            report.problems.append(f"STH #{k} (tree size {sth.tree_size}): the events do not hash to its root")
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
            if first_failure is None:
                first_failure = k
                candidates.append(_locate(sth, verified, first_hint_mismatch, leaf_hints, report))
        elif first_failure is None:
            verified = max(verified, sth.tree_size)
    report.verified_size = verified
    if candidates:
        report.first_bad_index = min(candidates)
    if n > verified and report.ok:
        report.notes.append(f"events [{verified}, {n}) are not yet covered by a signed tree head")
    return report


def _check_sths(sths: Sequence[ExportedSth], public_key: Ed25519PublicKey, report: VerificationReport) -> list[int]:
    """Check signatures, order and consistency; returns the positions of authentic STHs."""
    usable: list[int] = []
    for k, sth in enumerate(sths):
        try:
            public_key.verify(sth.signature, sth.signed_message())
        except InvalidSignature:
            report.problems.append(f"STH #{k} (tree size {sth.tree_size}): signature does not verify")
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
            continue
        usable.append(k)
    good = set(usable)
    for k in range(1, len(sths)):
        prev, cur = sths[k - 1], sths[k]
        if cur.tree_size < prev.tree_size:
            report.problems.append(f"STH #{k} is out of order (tree size {cur.tree_size} < {prev.tree_size})")
            continue
        if k not in good or k - 1 not in good:
            continue
        proof = cur.consistency_from_previous
        if proof is None or not verify_consistency(prev.tree_size, cur.tree_size, prev.root_hash, cur.root_hash, proof):
            report.problems.append(
                f"STH #{k} (tree size {cur.tree_size}) is not consistent with STH #{k - 1} "
                f"(tree size {prev.tree_size}): the log was rewritten or forked between them"
            )
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
    return usable


def _locate(
    sth: ExportedSth,
    verified: int,
    first_hint_mismatch: int | None,
    leaf_hints: Callable[[], Iterable[bytes]] | None,
    report: VerificationReport,
) -> int:
    """The first index that does not verify, for a failing STH."""
    if (
        leaf_hints is not None
        and first_hint_mismatch is not None
        and first_hint_mismatch < sth.tree_size
        and _root_of_hashes(leaf_hints(), sth.tree_size) == sth.root_hash
    ):
        report.problems.append(f"event {first_hint_mismatch} differs from the leaf hash the signed tree commits to")
        return first_hint_mismatch
    report.problems.append(
        f"the stored hashes were rewritten too: the damage lies in events [{verified}, {sth.tree_size})"
    )
    return verified


# -- reading an export directory --------------------------------------------------------------


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise VerifierInputError(f"unreadable public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise VerifierInputError("the public key is not Ed25519")
    return key


def read_events(path: Path) -> Iterator[tuple[int, bytes]]:
    """(leaf index, event bytes) per line of ``events.tsv``."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            tab = line.find(b"\t")
            if tab < 0 or not line.endswith(b"\n"):
                raise VerifierInputError(f"{path.name} line {lineno} is not '<index>\\t<event>'")
            try:
                index = int(line[:tab])
            except ValueError:
                raise VerifierInputError(f"{path.name} line {lineno} has no leaf index") from None
            yield index, line[tab + 1 : -1]


def read_leaf_hashes(path: Path) -> Iterator[bytes]:
    """32-byte leaf hashes from ``leaf_hashes.bin``."""
    with path.open("rb") as fh:
        while chunk := fh.read(32 * 65536):
            for i in range(0, len(chunk) - 31, 32):
                yield chunk[i : i + 32]


def read_sths(path: Path) -> list[ExportedSth]:
    """STHs from ``sths.jsonl``."""
    out = []
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    out.append(ExportedSth.from_json(json.loads(line)))
                except ValueError as exc:
                    raise VerifierInputError(f"{path.name}: {exc}") from None
    return out


def verify_export(
    directory: Path, public_key_pem: bytes | None = None, *, check_events: bool = False
) -> VerificationReport:
    """Verify an export directory; ``public_key_pem`` is the trusted key (default: the exported one)."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / "manifest.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise VerifierInputError(f"{directory} is not an audit export: {exc}") from None
    if manifest.get("format") != EXPORT_FORMAT:
        raise VerifierInputError(f"{directory} is not a {EXPORT_FORMAT} export")
    notes = []
    if public_key_pem is None:
        try:
            public_key_pem = (directory / "public_key.pem").read_bytes()
        except OSError as exc:
            raise VerifierInputError(f"no public key given and none exported: {exc}") from None
        notes.append("signatures checked with the key shipped in the export; pass a trusted key to rule out a swap")
    key = load_public_key(public_key_pem)
    hints_path = directory / "leaf_hashes.bin"
    hints = (lambda: read_leaf_hashes(hints_path)) if hints_path.exists() else None
    events_path = directory / "events.tsv"
    if not events_path.exists():
        raise VerifierInputError(f"{directory} has no events.tsv")
    report = verify_log(
        read_events(events_path), read_sths(directory / "sths.jsonl"), key, hints, check_events=check_events
    )
    report.notes[:0] = notes
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python verifier.py DIR [--public-key KEY.pem] [--check-events]``; exit 0 when it verifies."""
    parser = argparse.ArgumentParser(description="Verify an exported taxvault audit log from scratch.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--public-key", type=Path, help="trusted Ed25519 public key (PEM)")
    parser.add_argument("--check-events", action="store_true", help="also check every event is canonical JSON")
    args = parser.parse_args(argv)
    try:
        pem = args.public_key.read_bytes() if args.public_key else None
        report = verify_export(args.directory, pem, check_events=args.check_events)
    except (OSError, VerifierInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    for line in report.problems + report.notes:
        print(f"  {line}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
