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

Events are hashed in aligned chunks of 2**16 leaves, one C-level pass per tree
level; a large export is split at chunk boundaries across one process per CPU,
each running this same file isolated (``python -I verifier.py --hash-segment``),
and the chunk roots are joined exactly as one pass would.

4. every hash the store keeps, recomputed from the events: each stored leaf
   hash, each stored subtree node (level 5 and up) and the tree state (size,
   frontier, root); any difference fails and names the first leaf it covers;
5. an unsigned tail: events past the newest STH, when that head is older than
   the newest event by more than the signing interval (``--sth-interval``);
6. heads an auditor kept outside the store (``--trusted-sth FILE``): each must
   verify with the trusted key and the first ``tree_size`` events, recomputed,
   must hash to its root (what a consistency proof establishes) or the log no
   longer extends it.

It names the first leaf index that does not verify. When only events were
edited, the exported leaf hashes still chain to the signed root and the index is
exact; when hashes were rewritten too, the verifier can only say the damage
starts after the last STH that still verifies.

Export layout (``taxvault audit export DIR``): ``manifest.json``; ``events.tsv``
with one ``<leaf index>\\t<canonical event JSON>`` line per event (the JSON is
the leaf, byte for byte); ``leaf_hashes.bin`` with 32 bytes per stored leaf hash;
``sths.jsonl`` sorted by tree size, each carrying ``consistency_from_previous``;
``public_key.pem``; ``tree.json`` (the stored tree state: ``tree_size``,
``frontier`` hex, ``root_hash``, the node layout ``nodes`` as ``[level, count]``
and ``extra_nodes``, stored nodes past the events); ``nodes.bin`` with, level by
level from 5 up, ``count`` 32-byte hashes of subtrees ``0 .. count-1`` (a missing
stored node is 32 zero bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EXPORT_FORMAT = "taxvault-audit-log"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_EVENT_KEYS_V1 = {
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
_EVENT_KEYS = {1: _EVENT_KEYS_V1, 2: _EVENT_KEYS_V1 | {"subject", "channel"}}


MIN_STORED_LEVEL = 5
"""The store keeps every closed perfect subtree of this level and up (format constant)."""
DEFAULT_STH_INTERVAL = 1.0
"""Seconds within which every event must be covered by a signed tree head (the server's default)."""


class VerifierInputError(ValueError):
    """The export is unreadable or malformed (as opposed to readable but not verifying)."""


Progress = Callable[[str, int, int], None]
"""``(phase, done, total)``, called as a verification advances; phases in order:

- ``"tree heads"``: each head's signature checked (and, for an export, each consistency
  proof from the head before: ``2 * heads - 1`` units then);
- ``"leaves"``: events hashed and compared with the stored leaf hashes and nodes
  (``total`` is the expected count; the last call has ``done == total`` = the events read);
- ``"consistency"``: each signed or trusted head's root, and the stored tree state,
  compared with the root recomputed from the events.

Called every ``progress_every`` units at most once per hashed chunk, and always at the end
of a phase (so a phase with work ends with ``done == total``); never per event. Without a
callback nothing is counted: the verification costs what it did.
"""
PHASES = ("tree heads", "leaves", "consistency")
PROGRESS_EVERY = 1 << 16


class _Ticker:
    """Reports one phase's count to a :data:`Progress` callback, at most every ``every`` units."""

    __slots__ = ("_every", "_last", "_phase", "_progress", "total")

    def __init__(self, progress: Progress, phase: str, total: int, every: int) -> None:
        self._progress, self._phase, self.total = progress, phase, max(0, total)
        self._every, self._last = max(1, every), -1

    def at(self, done: int) -> None:
        """``done`` units so far: reported when ``every`` more than last time (or the total) were reached."""
        if self._last < 0 or done - self._last >= self._every or 0 < self.total <= done:
            self._last = done
            self._progress(self._phase, done, max(done, self.total))

    def end(self, done: int) -> None:
        """The phase is over after ``done`` units (the total, unless the input held more or fewer)."""
        self.total = done
        if done != self._last:
            self._last = done
            self._progress(self._phase, done, done)


def _ticker(progress: Progress | None, phase: str, total: int, every: int) -> _Ticker | None:
    return None if progress is None else _Ticker(progress, phase, total, every)


NodeReader = Callable[[int, int, int], bytes]
"""``(level, first index, count)`` -> the stored hashes of those subtrees, concatenated
(32 zero bytes for a missing one; short when the store has fewer)."""


@dataclass(frozen=True, slots=True)
class StoredTree:
    """The store's tree state (``audit_tree``), checked against the events; and its stored nodes."""

    tree_size: int
    frontier: bytes
    root_hash: bytes
    nodes: NodeReader | None = None
    extra_nodes: Sequence[tuple[int, int]] = ()
    leaf_hash_count: int | None = None


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
    unsigned_tail: int | None = None
    first_bad_trusted: int | None = None
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
            if not self.events and not self.sths:
                return "OK: the log is empty (no events, no signed tree heads)"
            return (
                f"OK: {self.events} events, {self.sths} signed tree heads verified "
                f"(events [0, {self.verified_size}) covered by a signature)"
            )
        where = []
        if self.first_bad_index is not None:
            where.append(f"first index that does not verify: {self.first_bad_index}")
        if self.first_bad_sth is not None:
            where.append(f"first bad STH: #{self.first_bad_sth}")
        if self.unsigned_tail is not None:
            where.append(f"unsigned tail of {self.unsigned_tail} events")
        if self.first_bad_trusted is not None:
            where.append(f"trusted head #{self.first_bad_trusted} not extended")
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
    """RFC 9162 2.1.4.2, strict: every hash 32 bytes; equal sizes need an empty proof and equal
    roots (the empty-tree hash at size 0); no proof from size 0 to a larger size (as the
    reference library: every tree extends the empty one, see :func:`extends`)."""
    sized = len(old_root) == HASH_SIZE and len(new_root) == HASH_SIZE and all(len(p) == HASH_SIZE for p in proof)
    if not 0 <= old_size <= new_size or not sized:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root and (old_size > 0 or old_root == EMPTY_ROOT)
    if old_size == 0:
        return False
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


def extends(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """The newer head extends the older by ``proof``: :func:`verify_consistency`, and a size-0 head
    (its root the empty-tree hash, no proof) before any larger one; the newer root is checked apart."""
    if old_size == 0 and new_size > 0:
        return not proof and old_root == EMPTY_ROOT and len(new_root) == HASH_SIZE
    return verify_consistency(old_size, new_size, old_root, new_root, proof)


def _check_event(data: bytes) -> str | None:
    """Why ``data`` is not a canonical event (version 1 or 2), or None."""
    try:
        obj = json.loads(data)
    except ValueError:
        return "not JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    version = obj.get("v")
    keys = _EVENT_KEYS.get(version) if type(version) is int else None
    if keys is None:
        return "not a known event version"
    if set(obj) != keys:
        return f"not the version-{version} field set"
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return None if canonical == data else "not in canonical form"


# -- the verification proper --------------------------------------------------------------


CHUNK_LEVEL = 16
"""Events are hashed in aligned chunks of 2**CHUNK_LEVEL leaves, one list comprehension per tree level."""
_READ_SIZE = 1 << 24


@dataclass
class _Segment:
    """What hashing a run of events [start, start + count) found; start is chunk-aligned."""

    start: int
    count: int = 0
    roots: list[bytes] = field(default_factory=list)
    partial: dict[int, list[bytes]] = field(default_factory=dict)
    first_gap: int | None = None
    gap_index: int | None = None
    first_hint_mismatch: int | None = None
    first_malformed: int | None = None
    malformed_why: str = ""
    first_node_mismatch: int | None = None
    node_level: int = 0
    node_where: str = ""
    last_event: bytes | None = None


_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_LEAF = b"\x00"
_NODE = b"\x01"


def _hash_all(messages: Iterable[bytes]) -> list[bytes]:
    """SHA-256 of each message; the loop runs in C (map over the constructor and the digest)."""
    return list(map(_digest, map(_sha256, messages)))


def _tree_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete node of an aligned run of leaf hashes, level by level (RFC 9162 2.1.1)."""
    levels = [leaves]
    cur = leaves
    while len(cur) > 1:
        pairs = map(bytes.__add__, cur[0 : len(cur) & ~1 : 2], cur[1::2])
        cur = _hash_all(map(_NODE.__add__, pairs))
        levels.append(cur)
    return levels


def _prefix_frontier(levels: list[list[bytes]], r: int) -> list[bytes]:
    """The perfect subtrees of the first ``r`` leaves of a level table, largest first."""
    out: list[bytes] = []
    p = 0
    for lv in range(r.bit_length() - 1, -1, -1):
        if r >> lv & 1:
            out.append(levels[lv][p >> lv])
            p += 1 << lv
    return out


def _hash_segment(
    chunks: Iterable[tuple[list[int | None], list[bytes]]],
    start: int,
    targets: Sequence[int],
    hints: Callable[[int, int], bytes] | None,
    check_events: bool,
    chunk_level: int,
    nodes: NodeReader | None = None,
    tick: Callable[[int], None] | None = None,
) -> _Segment:
    """Hash chunk-aligned batches of (leaf indexes, 0x00 + event bytes) starting at position ``start``.

    ``tick(position)`` after each chunk, for progress.

    Stored leaf hashes (``hints``) and stored subtree nodes (``nodes``) up to the chunk
    level are compared with the recomputed ones here; higher nodes in :func:`_conclude`.
    """
    seg = _Segment(start)
    size = 1 << chunk_level
    n0 = start
    for indexes, datas in chunks:
        m = len(datas)
        if seg.first_gap is None and indexes != list(range(n0, n0 + m)):
            for i, v in enumerate(indexes):
                if v != n0 + i:
                    seg.first_gap, seg.gap_index = n0 + i, v
                    break
        leaves = _hash_all(datas)
        if hints is not None and seg.first_hint_mismatch is None:
            stored = hints(n0, m)
            if stored != b"".join(leaves):
                for i, h in enumerate(leaves):
                    if stored[32 * i : 32 * i + 32] != h:
                        seg.first_hint_mismatch = n0 + i
                        break
        if check_events and seg.first_malformed is None:
            for i, d in enumerate(datas):
                why = _check_event(d[1:])
                if why is not None:
                    seg.first_malformed, seg.malformed_why = n0 + i, why
                    break
        levels = _tree_levels(leaves)
        if nodes is not None and seg.first_node_mismatch is None:
            _compare_nodes(seg, levels, n0, nodes)
        seg.last_event = datas[-1][1:]
        if m == size:
            seg.roots.append(levels[chunk_level][0])
        for t in targets:
            if n0 < t <= n0 + m and t - n0 < size:
                seg.partial[t] = _prefix_frontier(levels, t - n0)
        n0 += m
        if tick is not None:
            tick(n0)
        if m < size:
            break
    seg.count = n0 - start
    return seg


def _compare_nodes(seg: _Segment, levels: list[list[bytes]], n0: int, nodes: NodeReader) -> None:
    """Compare the stored nodes of an aligned run starting at leaf ``n0`` with the recomputed ``levels``."""
    for lv in range(MIN_STORED_LEVEL, len(levels)):
        found = _first_node_mismatch(levels[lv], nodes(lv, n0 >> lv, len(levels[lv])))
        if found is not None:
            leaf = ((n0 >> lv) + found) << lv
            if seg.first_node_mismatch is None or leaf < seg.first_node_mismatch:
                seg.first_node_mismatch, seg.node_level = leaf, lv
                seg.node_where = f"level {lv}, index {(n0 >> lv) + found}"


def _first_node_mismatch(recomputed: list[bytes], stored: bytes) -> int | None:
    """Position of the first stored hash that differs from the recomputed one (or is missing)."""
    if not recomputed or stored == b"".join(recomputed):
        return None
    for i, h in enumerate(recomputed):
        if stored[32 * i : 32 * i + 32] != h:
            return i
    return None  # pragma: no cover - the joined comparison said they differ


def _rechunk(rows: Iterable[tuple[int, bytes]], chunk_level: int) -> Iterator[tuple[list[int | None], list[bytes]]]:
    size = 1 << chunk_level
    it = iter(rows)
    while True:
        batch = list(itertools.islice(it, size))
        if not batch:
            return
        yield [i for i, _ in batch], [_LEAF + d for _, d in batch]
        if len(batch) < size:
            return


def _parse_lines(block: bytes, name: str, lineno: int) -> tuple[list[int | None], list[bytes]]:
    """Complete ``<index>\\t<event>\\n`` lines -> (leaf indexes, 0x00 + event bytes).

    Canonical events hold no raw tab or newline, so when there is one tab per line the
    whole block is cut with two C-level passes; anything else goes line by line.
    """
    if block.count(b"\t") == block.count(b"\n"):
        parts = block.replace(b"\t", b"\n\x00").split(b"\n")
        try:  # a line with 0 or 2+ tabs puts a 0x00-led piece where an index belongs: int() refuses it
            return list(map(int, parts[0:-1:2])), parts[1::2]
        except ValueError:
            pass
    indexes: list[int | None] = []
    datas: list[bytes] = []
    for k, line in enumerate(block.split(b"\n")[:-1]):
        head, sep, data = line.partition(b"\t")
        if not sep:
            raise VerifierInputError(f"{name} line {lineno + k + 1} is not '<index>\\t<event>'")
        try:
            indexes.append(int(head))
        except ValueError:
            raise VerifierInputError(f"{name} line {lineno + k + 1} has no leaf index") from None
        datas.append(_LEAF + data)
    return indexes, datas


def _file_chunks(
    path: Path, offset: int, first_line: int, limit: int | None, chunk_level: int
) -> Iterator[tuple[list[int | None], list[bytes]]]:
    """Parse ``events.tsv`` from byte ``offset`` (line ``first_line``) in chunks; at most ``limit`` lines."""
    size = 1 << chunk_level
    indexes: list[int | None] = []
    datas: list[bytes] = []
    lineno = first_line
    left = limit
    with path.open("rb") as fh:
        fh.seek(offset)
        rest = b""
        while left is None or left > 0:
            block = fh.read(_READ_SIZE)
            if not block:
                if rest:
                    raise VerifierInputError(f"{path.name} line {lineno + 1} is not '<index>\\t<event>'")
                break
            block = rest + block if rest else block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            block = block[:cut]
            if left is not None:
                lines = block.count(b"\n")
                if lines >= left:
                    at = -1
                    for _ in range(left):
                        at = block.index(b"\n", at + 1)
                    block, rest = block[: at + 1], b""
                left -= min(lines, left)
            more_indexes, more_datas = _parse_lines(block, path.name, lineno)
            lineno += len(more_datas)
            indexes += more_indexes
            datas += more_datas
            while len(datas) >= size:
                yield indexes[:size], datas[:size]
                del indexes[:size], datas[:size]
    if datas:
        yield indexes, datas


def _segment_of_file(
    events: str,
    hints: str | None,
    offset: int,
    first_line: int,
    limit: int | None,
    targets: list[int],
    check: bool,
    level: int,
    nodes_file: str | None = None,
    layout: list[list[int]] | None = None,
    tick: Callable[[int], None] | None = None,
) -> _Segment:
    """Hash the events of ``events.tsv`` from line ``first_line`` (at byte ``offset``); also run in workers."""
    chunks = _file_chunks(Path(events), offset, first_line, limit, level)
    with contextlib.ExitStack() as stack:
        read: Callable[[int, int], bytes] | None = None
        if hints is not None:
            fh = stack.enter_context(open(hints, "rb"))

            def read(start: int, count: int) -> bytes:
                fh.seek(32 * start)
                return fh.read(32 * count)

        reader = None
        if nodes_file is not None and layout is not None:
            reader = _node_file_reader(stack.enter_context(open(nodes_file, "rb")), layout)
        return _hash_segment(chunks, first_line, targets, read, check, level, reader, tick)


def _node_file_reader(fh: Any, layout: list[list[int]]) -> NodeReader:
    """Random access to ``nodes.bin`` laid out as ``[level, count]`` runs, level by level."""
    where: dict[int, tuple[int, int]] = {}
    offset = 0
    for lv, count in layout:
        where[int(lv)] = (offset, int(count))
        offset += 32 * int(count)

    def read(lv: int, first: int, count: int) -> bytes:
        base, have = where.get(lv, (0, 0))
        count = max(0, min(count, have - first))
        if not count:
            return b""
        fh.seek(base + 32 * first)
        return bytes(fh.read(32 * count))

    return read


def _line_offsets(path: Path, lines: list[int]) -> list[int]:
    """Byte offsets where the given (ascending) line numbers start; stops at the first one past the end."""
    out: list[int] = []
    seen = 0  # newlines before ``pos``
    pos = 0
    with path.open("rb") as fh:
        for target in lines:
            while True:
                if seen == target:
                    out.append(pos)
                    break
                fh.seek(pos)
                block = fh.read(_READ_SIZE)
                if not block:
                    return out
                count = block.count(b"\n")
                if seen + count < target:
                    seen += count
                    pos += len(block)
                    continue
                at = -1
                for _ in range(target - seen):
                    at = block.index(b"\n", at + 1)
                seen = target
                pos += at + 1
    return out


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _export_segments(
    events: Path,
    hints: Path | None,
    targets: list[int],
    check: bool,
    workers: int,
    level: int,
    nodes: tuple[Path, list[list[int]]] | None = None,
    tick: Callable[[int], None] | None = None,
) -> list[_Segment]:
    """Hash ``events.tsv``, split across ``workers`` processes at chunk boundaries when it is large.

    The split is only a schedule: each part is hashed from the bytes it reads and the
    parts are joined at aligned subtree boundaries, so the result is the same as one pass.
    ``tick(events hashed)`` follows this process's part, then adds each worker's as it ends.
    """
    hint_name = None if hints is None else str(hints)
    node_args: list[Any] = [None, None] if nodes is None else [str(nodes[0]), nodes[1]]
    nodes_file, layout = (None, None) if nodes is None else (str(nodes[0]), nodes[1])
    whole = str(events)
    size = events.stat().st_size
    splits: list[int] = []
    offsets: list[int] = []
    if workers > 1:
        with events.open("rb") as fh:
            head = fh.read(1 << 20)
        if head.count(b"\n"):
            estimate = size * head.count(b"\n") // (head.rfind(b"\n") + 1)
            step = (estimate // workers) >> level << level
            if step:
                wanted = [step * k for k in range(1, workers)]
                offsets = _line_offsets(events, wanted)
                splits = wanted[: len(offsets)]
    if not splits:
        return [_segment_of_file(whole, hint_name, 0, 0, None, targets, check, level, nodes_file, layout, tick)]
    starts = [0, *splits]
    offsets = [0, *offsets]
    children = []
    try:
        for k in range(1, len(starts)):
            limit = starts[k + 1] - starts[k] if k + 1 < len(starts) else None
            job = [whole, hint_name, offsets[k], starts[k], limit, targets, check, level, *node_args]
            children.append(
                subprocess.Popen(  # this file alone, isolated: stdlib + cryptography, no project code
                    [sys.executable, "-I", str(Path(__file__).resolve()), _SEGMENT_FLAG, json.dumps(job)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        segments = [
            _segment_of_file(whole, hint_name, 0, 0, starts[1], targets, check, level, nodes_file, layout, tick)
        ]
        for child in children:
            out, err = child.communicate()
            if child.returncode:
                raise VerifierInputError(err.decode("utf-8", "replace").strip() or "a verifier worker failed")
            segments.append(_segment_from_json(json.loads(out)))
            if tick is not None:
                tick(sum(seg.count for seg in segments))
        return segments
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


_SEGMENT_FLAG = "--hash-segment"


def _segment_to_json(seg: _Segment) -> dict[str, Any]:
    return {
        "start": seg.start,
        "count": seg.count,
        "roots": [h.hex() for h in seg.roots],
        "partial": [[t, [h.hex() for h in hs]] for t, hs in seg.partial.items()],
        "first_gap": seg.first_gap,
        "gap_index": seg.gap_index,
        "first_hint_mismatch": seg.first_hint_mismatch,
        "first_malformed": seg.first_malformed,
        "malformed_why": seg.malformed_why,
        "first_node_mismatch": seg.first_node_mismatch,
        "node_level": seg.node_level,
        "node_where": seg.node_where,
        "last_event": None if seg.last_event is None else seg.last_event.hex(),
    }


def _segment_from_json(obj: dict[str, Any]) -> _Segment:
    return _Segment(
        start=int(obj["start"]),
        count=int(obj["count"]),
        roots=[bytes.fromhex(h) for h in obj["roots"]],
        partial={int(t): [bytes.fromhex(h) for h in hs] for t, hs in obj["partial"]},
        first_gap=obj["first_gap"],
        gap_index=obj["gap_index"],
        first_hint_mismatch=obj["first_hint_mismatch"],
        first_malformed=obj["first_malformed"],
        malformed_why=str(obj["malformed_why"]),
        first_node_mismatch=obj["first_node_mismatch"],
        node_level=int(obj["node_level"]),
        node_where=str(obj["node_where"]),
        last_event=None if obj["last_event"] is None else bytes.fromhex(obj["last_event"]),
    )


def _segment_main(job: str) -> int:
    """Worker entry point: hash one segment of an export and print it as JSON."""
    try:
        seg = _segment_of_file(*json.loads(job))
    except (OSError, VerifierInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(_segment_to_json(seg)))
    return 0


@dataclass(frozen=True, slots=True)
class _Checks:
    """What to check besides the log's own STHs (all optional)."""

    tree: StoredTree | None = None
    trusted: Sequence[ExportedSth] = ()
    trusted_key: Ed25519PublicKey | None = None
    sth_interval: float | None = DEFAULT_STH_INTERVAL

    def targets(self, sth_sizes: Iterable[int]) -> list[int]:
        """Every tree size whose recomputed root (and frontier) is needed."""
        sizes = set(sth_sizes) | {t.tree_size for t in self.trusted}
        if self.tree is not None:
            sizes.add(self.tree.tree_size)
        return sorted(s for s in sizes if s >= 0)


def _conclude(
    report: VerificationReport,
    sths: Sequence[ExportedSth],
    usable: list[int],
    targets: list[int],
    segments: Sequence[_Segment],
    leaf_hints: Callable[[], Iterable[bytes]] | None,
    chunk_level: int,
    checks: _Checks | None = None,
    progress: Progress | None = None,
) -> VerificationReport:
    """Combine the segments' chunk roots into the root at every needed size, and judge."""
    checks = checks or _Checks(sth_interval=None)
    roots_tick = _ticker(progress, "consistency", len(usable) + len(checks.trusted) + (checks.tree is not None), 1024)
    n = sum(seg.count for seg in segments)
    report.events = n

    def first(attr: str) -> _Segment | None:
        return next((seg for seg in segments if getattr(seg, attr) is not None), None)

    candidates: list[int | None] = []
    gap = first("first_gap")
    if gap is not None and gap.first_gap is not None:
        report.problems.append(
            f"position {gap.first_gap} holds leaf index {gap.gap_index}: an event was deleted or inserted"
        )
        candidates.append(gap.first_gap)
    bad = first("first_malformed")
    if bad is not None and bad.first_malformed is not None:
        report.problems.append(f"event {bad.first_malformed} is {bad.malformed_why}")
        candidates.append(bad.first_malformed)
    mismatch = first("first_hint_mismatch")
    first_hint_mismatch = None if mismatch is None else mismatch.first_hint_mismatch
    if first_hint_mismatch is not None:
        report.problems.append(
            f"event {first_hint_mismatch} does not hash to its stored leaf hash: the event or the hash was changed"
        )
        candidates.append(first_hint_mismatch)
    # A stored subtree over an event that no longer matches its leaf hash differs as a
    # consequence: it names the index only when the leaves under it all match.
    precise = [i for i in (None if gap is None else gap.first_gap, first_hint_mismatch) if i is not None]

    def subtree_candidate(start: int, width: int) -> int | None:
        return None if any(start <= i < start + width for i in precise) else start

    node_bad = first("first_node_mismatch")
    low_node = None
    if node_bad is not None and node_bad.first_node_mismatch is not None:
        low_node = (node_bad.first_node_mismatch, node_bad.node_level, node_bad.node_where)

    chunk_roots = [r for seg in segments for r in seg.roots]
    partial: dict[int, list[bytes]] = {}
    for seg in segments:
        partial.update(seg.partial)
    roots: dict[int, bytes] = {}
    frontiers: dict[int, list[bytes]] = {}
    stack: list[tuple[int, bytes]] = []  # (level above the chunk level, hash), largest first
    done = 0
    for t in targets:
        if t > n:
            break
        q = t >> chunk_level
        while done < q:
            h, lv = chunk_roots[done], 0
            while stack and stack[-1][0] == lv:
                h = _node(stack.pop()[1], h)
                lv += 1
            stack.append((lv, h))
            done += 1
        frontiers[t] = [h for _, h in stack] + partial.get(t, [])
        roots[t] = _fold(frontiers[t])

    if checks.tree is not None:
        candidates += _check_tree(
            report, checks.tree, n, (chunk_roots, chunk_level, low_node), frontiers, roots, subtree_candidate
        )

    verified = 0
    first_failure: int | None = None
    for done, k in enumerate(usable, checks.tree is not None):
        if roots_tick is not None:
            roots_tick.at(done)
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
    candidates += _check_trusted(report, checks, n, roots)
    if roots_tick is not None:
        roots_tick.end(roots_tick.total)
    if checks.sth_interval is not None:
        last = next((seg.last_event for seg in reversed(segments) if seg.last_event is not None), None)
        _check_tail(report, [sths[k] for k in usable], n, last, checks.sth_interval)
    named = [i for i in candidates if i is not None]
    if named:
        report.first_bad_index = min(named)
    if n > verified and report.ok:
        report.notes.append(f"events [{verified}, {n}) are not yet covered by a signed tree head")
    return report


def _check_tree(
    report: VerificationReport,
    tree: StoredTree,
    n: int,
    hashed: tuple[list[bytes], int, tuple[int, int, str] | None],
    frontiers: dict[int, list[bytes]],
    roots: dict[int, bytes],
    subtree_candidate: Callable[[int, int], int | None],
) -> list[int | None]:
    """The stored tree state, leaf-hash count and nodes above the chunk level, against the events."""
    found: list[int | None] = []
    size = tree.tree_size
    if tree.leaf_hash_count is not None and tree.leaf_hash_count != n:
        report.problems.append(f"the store holds {tree.leaf_hash_count} leaf hashes for {n} events")
        found.append(min(tree.leaf_hash_count, n))
    if size != n:
        report.problems.append(
            f"the tree table says {size} events but the log holds {n}: the tree table disagrees with the events"
        )
        found.append(min(size, n))
    if size in frontiers:
        stored = [tree.frontier[i : i + 32] for i in range(0, 32 * bin(size).count("1"), 32)]
        start = 0
        sizes = [1 << lv for lv in range(size.bit_length() - 1, -1, -1) if size >> lv & 1]
        for width, mine, theirs in zip(sizes, frontiers[size], stored, strict=True):
            if mine != theirs:
                report.problems.append(
                    f"the tree table's frontier subtree [{start}, {start + width}) does not match the events"
                )
                found.append(subtree_candidate(start, width))
                break
            start += width
        if len(tree.frontier) < 32 * len(sizes):
            report.problems.append(f"the tree table's frontier is too short for a tree of {size} events")
            found.append(start)
        if roots[size] != tree.root_hash:
            report.problems.append(f"the tree table's root does not match the events [0, {size})")
    chunk_roots, chunk_level, node_bad = hashed  # node_bad: the first in-chunk node that differs
    if tree.nodes is not None:
        level, cur = chunk_level, chunk_roots
        while len(cur) > 1:
            cur = [_node(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
            level += 1
            if level >= MIN_STORED_LEVEL:
                at = _first_node_mismatch(cur, tree.nodes(level, 0, len(cur)))
                if at is not None and (node_bad is None or at << level < node_bad[0]):
                    node_bad = (at << level, level, f"level {level}, index {at}")
    if node_bad is not None:  # the lowest-starting one, whatever the chunking found first
        leaf, level, where = node_bad
        report.problems.append(f"stored subtree node ({where}) does not match the events from {leaf}")
        found.append(subtree_candidate(leaf, 1 << level))
    extra = [(lv, ix) for lv, ix in tree.extra_nodes if lv < MIN_STORED_LEVEL or (ix + 1) << lv > n]
    if extra:
        lv, ix = extra[0]
        report.problems.append(
            f"stored subtree nodes lie past the log's {n} events (level {lv}, index {ix}): events were removed"
        )
        found.append(n)
    return found


def _check_trusted(report: VerificationReport, checks: _Checks, n: int, roots: dict[int, bytes]) -> list[int]:
    """Each head the auditor kept must be signed by the trusted key and be a prefix of the recomputed log."""
    found: list[int] = []
    for j, head in enumerate(checks.trusted):
        why = None
        key = checks.trusted_key
        if key is None:
            why = "no public key to check its signature"
        else:
            try:
                key.verify(head.signature, head.signed_message())
            except InvalidSignature:
                why = "its signature does not verify with the trusted key"
        if why is None and head.tree_size > n:
            why = f"the log holds only {n} events (it was truncated)"
            found.append(n)
        elif why is None and roots.get(head.tree_size) != head.root_hash:
            why = f"the first {head.tree_size} events now hash to a different root (history was rewritten)"
        if why is not None:
            report.problems.append(f"trusted head #{j} (tree size {head.tree_size}) is not extended by the log: {why}")
            if report.first_bad_trusted is None:
                report.first_bad_trusted = j
    if checks.trusted and report.first_bad_trusted is None:
        report.notes.append(f"the log extends all {len(checks.trusted)} trusted head(s)")
    return found


def _event_time(data: bytes | None) -> float | None:
    """Seconds since the epoch of a canonical event's ``time``, or None when unreadable."""
    if data is None:
        return None
    try:
        when = dt.datetime.strptime(json.loads(data)["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    except (ValueError, KeyError, TypeError):
        return None
    return when.replace(tzinfo=dt.UTC).timestamp()


def _check_tail(
    report: VerificationReport, heads: Sequence[ExportedSth], n: int, last_event: bytes | None, interval: float
) -> None:
    """Events past the newest authentic head, when that head is older than the newest event by > ``interval``."""
    newest = max(heads, key=lambda h: (h.tree_size, h.timestamp_ms), default=None)
    signed = 0 if newest is None else newest.tree_size
    tail = n - signed
    if tail <= 0:
        return
    when = _event_time(last_event)
    if newest is None:
        why = "no signed tree head covers any event"
    elif when is None:
        why = f"the newest event (index {n - 1}) has no readable time"
    elif when - newest.timestamp_ms / 1000 > interval:
        lag = when - newest.timestamp_ms / 1000
        why = f"the newest signed tree head (size {signed}) is {lag:.3f} s older than the newest event (index {n - 1})"
    else:
        return
    report.unsigned_tail = tail
    report.problems.append(
        f"unsigned tail of {tail} events: events [{signed}, {n}) are covered by no signed tree head "
        f"and {why}, more than the {interval:g} s signing interval allows"
        if newest is not None and when is not None
        else f"unsigned tail of {tail} events: events [{signed}, {n}) are covered by no signed tree head ({why})"
    )


def verify_log(
    events: Iterable[tuple[int, bytes]],
    sths: Sequence[ExportedSth],
    public_key: Ed25519PublicKey | None,
    leaf_hints: Callable[[], Iterable[bytes]] | None = None,
    *,
    check_events: bool = False,
    chunk_level: int = CHUNK_LEVEL,
    tree: StoredTree | None = None,
    trusted: Sequence[ExportedSth] = (),
    sth_interval: float | None = None,
    check_proofs: bool = True,
    progress: Progress | None = None,
    expected_events: int = 0,
    progress_every: int = PROGRESS_EVERY,
) -> VerificationReport:
    """Verify events (leaf index, canonical bytes) in order against signed tree heads.

    ``leaf_hints`` gives the stored leaf hashes; any that differs from the recomputed
    one fails (and names the index). ``tree`` is the stored tree state and nodes,
    ``trusted`` heads kept outside the store, ``sth_interval`` the longest an event may
    stay unsigned (None: not checked). ``check_proofs`` checks the STHs' exported
    consistency proofs (redundant when every STH root is recomputed from the events).
    ``progress`` is told how far each phase got (:data:`Progress`); ``expected_events`` is the
    leaves phase's total until the events are all read.
    """
    report = VerificationReport(sths=len(sths))
    usable = _check_sths(sths, public_key, report, check_proofs=check_proofs, progress=progress)
    checks = _Checks(tree, trusted, public_key, sth_interval)
    targets = checks.targets(sths[k].tree_size for k in usable)
    reader: Callable[[int, int], bytes] | None = None
    if leaf_hints is not None:
        hint_iter = iter(leaf_hints())

        def reader(_start: int, count: int) -> bytes:
            return b"".join(itertools.islice(hint_iter, count))

    nodes = None if tree is None else tree.nodes
    leaves = _ticker(progress, "leaves", expected_events, progress_every)
    tick = None if leaves is None else leaves.at
    if leaves is not None:
        leaves.at(0)
    seg = _hash_segment(_rechunk(events, chunk_level), 0, targets, reader, check_events, chunk_level, nodes, tick)
    if leaves is not None:
        leaves.end(seg.count)
    return _conclude(report, sths, usable, targets, [seg], leaf_hints, chunk_level, checks, progress)


def _check_sths(
    sths: Sequence[ExportedSth],
    public_key: Ed25519PublicKey | None,
    report: VerificationReport,
    *,
    check_proofs: bool = True,
    progress: Progress | None = None,
) -> list[int]:
    """Check signatures, order and consistency; returns the positions of authentic STHs."""
    usable: list[int] = []
    count = len(sths)
    heads = _ticker(progress, "tree heads", count + (max(0, count - 1) if check_proofs else 0), 256)
    for k, sth in enumerate(sths):
        if heads is not None:
            heads.at(k)
        if public_key is None:
            report.problems.append(f"STH #{k} (tree size {sth.tree_size}): no public key to check its signature")
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
            continue
        try:
            public_key.verify(sth.signature, sth.signed_message())
        except InvalidSignature:
            report.problems.append(f"STH #{k} (tree size {sth.tree_size}): signature does not verify")
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
            continue
        usable.append(k)
    good = set(usable)
    for k in range(1, len(sths)):
        if heads is not None and check_proofs:
            heads.at(count + k - 1)
        prev, cur = sths[k - 1], sths[k]
        if cur.tree_size < prev.tree_size:
            report.problems.append(f"STH #{k} is out of order (tree size {cur.tree_size} < {prev.tree_size})")
            continue
        if not check_proofs or k not in good or k - 1 not in good:
            continue
        proof = cur.consistency_from_previous
        if proof is None or not extends(prev.tree_size, cur.tree_size, prev.root_hash, cur.root_hash, proof):
            report.problems.append(
                f"STH #{k} (tree size {cur.tree_size}) is not consistent with STH #{k - 1} "
                f"(tree size {prev.tree_size}): the log was rewritten or forked between them"
            )
            report.first_bad_sth = k if report.first_bad_sth is None else report.first_bad_sth
    if heads is not None:
        heads.end(heads.total)
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


def read_trusted_heads(path: Path) -> list[ExportedSth]:
    """Heads an auditor kept: one JSON object, a JSON list, or JSON lines (as ``audit sth --out`` writes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifierInputError(f"cannot read trusted heads {path}: {exc}") from None
    try:
        whole = json.loads(text)
        objs = whole if isinstance(whole, list) else [whole]
    except ValueError:
        try:
            objs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise VerifierInputError(f"{path.name} is neither a JSON head nor JSON lines of heads: {exc}") from None
    if not objs or not all(isinstance(o, dict) for o in objs):
        raise VerifierInputError(f"{path.name} holds no signed tree head")
    return [ExportedSth.from_json({**o, "consistency_from_previous": None}) for o in objs]


def _read_stored_tree(
    directory: Path, hints_path: Path
) -> tuple[StoredTree | None, tuple[Path, list[list[int]]] | None]:
    """The exported tree state and node layout (None for an export that predates them)."""
    tree_path, nodes_path = directory / "tree.json", directory / "nodes.bin"
    if not tree_path.exists() or not nodes_path.exists():
        return None, None
    try:
        obj = json.loads(tree_path.read_bytes())
        layout = [[int(lv), int(count)] for lv, count in obj["nodes"]]
        extra = [(int(lv), int(ix)) for lv, ix in obj.get("extra_nodes", [])]
        tree = StoredTree(
            tree_size=int(obj["tree_size"]),
            frontier=bytes.fromhex(obj["frontier"]),
            root_hash=bytes.fromhex(obj["root_hash"]),
            extra_nodes=extra,
            leaf_hash_count=hints_path.stat().st_size // 32 if hints_path.exists() else 0,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VerifierInputError(f"{tree_path.name} is malformed: {exc}") from None
    return tree, (nodes_path, layout)


def verify_export(
    directory: Path,
    public_key_pem: bytes | None = None,
    *,
    check_events: bool = False,
    workers: int | None = None,
    chunk_level: int = CHUNK_LEVEL,
    trusted: Sequence[ExportedSth] = (),
    sth_interval: float | None = DEFAULT_STH_INTERVAL,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> VerificationReport:
    """Verify an export directory; ``public_key_pem`` is the trusted key (default: the exported one).

    ``trusted`` are heads the auditor kept (the log must still extend each);
    ``sth_interval`` the longest an event may stay unsigned (None: not checked).
    A large export is hashed by ``workers`` processes (default: one per usable CPU).
    ``progress`` is told how far each phase got (:data:`Progress`; the manifest's event count
    is the leaves phase's expected total).
    """
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
    sths = read_sths(directory / "sths.jsonl")
    tree, node_file = _read_stored_tree(directory, hints_path)
    if tree is None:
        notes.append("the export carries no tree state or nodes (tree.json, nodes.bin): those were not checked")
    report = VerificationReport(sths=len(sths))
    usable = _check_sths(sths, key, report, progress=progress)
    checks = _Checks(tree, trusted, key, sth_interval)
    targets = checks.targets(sths[k].tree_size for k in usable)
    expected = manifest.get("events")
    leaves = _ticker(progress, "leaves", expected if type(expected) is int else 0, progress_every)
    if leaves is not None:
        leaves.at(0)
    segments = _export_segments(
        events_path,
        hints_path if hints is not None else None,
        targets,
        check_events,
        _cpus() if workers is None else workers,
        chunk_level,
        node_file,
        None if leaves is None else leaves.at,
    )
    if leaves is not None:
        leaves.end(sum(seg.count for seg in segments))
    with contextlib.ExitStack() as stack:
        if tree is not None and node_file is not None:
            reader = _node_file_reader(stack.enter_context(node_file[0].open("rb")), node_file[1])
            checks = _Checks(dataclasses.replace(tree, nodes=reader), trusted, key, sth_interval)
        _conclude(report, sths, usable, targets, segments, hints, chunk_level, checks, progress)
    report.notes[:0] = notes
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python verifier.py DIR [--public-key KEY.pem] [--trusted-sth FILE] ...``; exit 0 when it verifies."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    if len(args_list) == 2 and args_list[0] == _SEGMENT_FLAG:
        return _segment_main(args_list[1])
    parser = argparse.ArgumentParser(description="Verify an exported taxvault audit log from scratch.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--public-key", type=Path, help="trusted Ed25519 public key (PEM)")
    parser.add_argument(
        "--trusted-sth",
        type=Path,
        action="append",
        default=[],
        help="signed tree heads kept outside the store (JSON or JSON lines); the log must still extend each",
    )
    parser.add_argument(
        "--sth-interval",
        type=float,
        default=DEFAULT_STH_INTERVAL,
        help="seconds an event may stay unsigned (default %(default)s; 0 or less: not checked)",
    )
    parser.add_argument("--check-events", action="store_true", help="also check every event is canonical JSON")
    args = parser.parse_args(args_list)
    try:
        pem = args.public_key.read_bytes() if args.public_key else None
        trusted = [head for path in args.trusted_sth for head in read_trusted_heads(path)]
        report = verify_export(
            args.directory,
            pem,
            check_events=args.check_events,
            trusted=trusted,
            sth_interval=args.sth_interval if args.sth_interval > 0 else None,
        )
    except (OSError, VerifierInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    for line in report.problems + report.notes:
        print(f"  {line}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
