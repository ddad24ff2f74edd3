"""RFC 9162 section 2.1 Merkle tree hashing, proofs and their verification.

These are the pure definitions over a whole list of leaves, for auditors and for
independent checks; the stored log computes the same proofs from O(log n) stored
subtree hashes through :func:`inclusion_path` and :func:`consistency_path`, which
take a callback giving the hash of any subtree ``[start, end)``.

Hashing (RFC 9162 2.1.1): the empty tree hashes to SHA-256 of the empty string; a
leaf to SHA-256(0x00 || leaf); an interior node to SHA-256(0x01 || left || right);
a tree of n > 1 leaves splits at k, the largest power of two smaller than n.
Proofs list hashes in the RFC's order (from the leaf side up to the root).

Verification is strict where the RFC leaves room (the probe set of the reference
library, transparency-dev/merkle, and beyond it): every hash given (leaf hash,
roots, each proof node) must be :data:`HASH_SIZE` bytes; a tree of size 0 has the
empty-tree hash as its root, nothing else; and there is no consistency proof from
size 0, since every tree extends the empty one: :func:`verify_consistency` refuses
it, as the reference does, and :func:`verify_extension` (what a chain of signed
heads needs) accepts a size-0 head exactly when its root is the empty-tree hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
"""SHA-256: the length of every hash in a tree, a proof and a tree head."""
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""Callback: the Merkle tree hash of leaves ``[start, end)``."""


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    if n < 2:
        raise ValueError("a tree of fewer than two leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


def is_perfect(start: int, end: int) -> bool:
    """True when ``[start, end)`` is a complete, aligned subtree (stored once and for all)."""
    size = end - start
    return size > 0 and size & (size - 1) == 0 and start % size == 0


def subtree_hash_from(start: int, end: int, perfect: Callable[[int, int], bytes]) -> bytes:
    """Hash of ``[start, end)`` built from perfect subtrees ``perfect(level, index)``.

    Any range the RFC recursion visits is an aligned perfect subtree or a right edge
    made of at most log2(n) perfect ones, so this reads O(log n) stored hashes.
    """
    if is_perfect(start, end):
        level = (end - start).bit_length() - 1
        return perfect(level, start >> level)
    k = split_point(end - start)
    return node_hash(subtree_hash_from(start, start + k, perfect), subtree_hash_from(start + k, end, perfect))


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, reading subtree hashes through ``subtree``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()  # the recursion appends the sibling after the deeper path
    return path


def consistency_path(old_size: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[size]) = SUBPROOF(old_size, D[size], true) of RFC 9162 2.1.4.1.

    Empty when ``old_size`` is 0 or equal to ``size`` (nothing to prove).
    """
    if not 0 <= old_size <= size:
        raise ValueError(f"no consistency proof from size {old_size} to size {size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


def _list_subtree(leaves: Sequence[bytes]) -> SubtreeHash:
    hashes = [leaf_hash(leaf) for leaf in leaves]

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return hashes[start]
        k = split_point(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    return mth


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over the leaf byte strings; SHA-256 of the empty string for no leaves."""
    if not leaves:
        return EMPTY_ROOT
    return _list_subtree(leaves)(0, len(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of all ``leaves`` (RFC 9162 2.1.3.1)."""
    return inclusion_path(index, len(leaves), _list_subtree(leaves))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 9162 2.1.4.1)."""
    return consistency_path(old_size, len(leaves), _list_subtree(leaves))


def _sized(*hashes: bytes, proof: Sequence[bytes] = ()) -> bool:
    """True when every hash and every proof node is exactly :data:`HASH_SIZE` bytes."""
    return all(len(h) == HASH_SIZE for h in hashes) and all(len(p) == HASH_SIZE for p in proof)


def root_from_inclusion(leaf_hash_: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof implies (RFC 9162 2.1.3.2), or None if the proof is malformed.

    Malformed: the index outside ``[0, tree_size)``, a leaf hash or node that is not
    :data:`HASH_SIZE` bytes, or a proof of the wrong length for that index and size.
    """
    if not 0 <= index < tree_size or not _sized(leaf_hash_, proof=proof):
        return None
    fn, sn, r = index, tree_size - 1, leaf_hash_
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion_hash(leaf_hash_: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Verify an inclusion proof for a leaf given by its hash (no leaf is in a tree of size 0)."""
    return len(root) == HASH_SIZE and root_from_inclusion(leaf_hash_, index, tree_size, proof) == root


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Verify that ``leaf`` (its bytes, hashed here) is leaf ``index`` of the tree with ``root``."""
    return verify_inclusion_hash(leaf_hash(leaf), index, tree_size, proof, root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Verify a consistency proof between two tree heads (RFC 9162 2.1.4.2).

    Edge cases outside the RFC's 0 < m < n: equal sizes need an empty proof and equal
    roots (the empty-tree hash when the size is 0). From size 0 to a larger size there
    is no proof (RFC 9162 defines none; the reference library refuses it): False. A
    chain of heads that starts empty checks that case with :func:`verify_extension`.
    """
    if not 0 <= old_size <= new_size or not _sized(old_root, new_root, proof=proof):
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
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def verify_extension(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True when the head ``(new_size, new_root)`` extends ``(old_size, old_root)`` by ``proof``.

    As :func:`verify_consistency`, plus the one case it refuses: a head of size 0
    extends into any larger one when its root is the empty-tree hash and the proof
    is empty (that the newer root is right is for its own checks: a signature, the
    events recomputed).
    """
    if old_size == 0 and new_size > 0:
        return not proof and old_root == EMPTY_ROOT and len(new_root) == HASH_SIZE
    return verify_consistency(old_size, new_size, old_root, new_root, proof)
