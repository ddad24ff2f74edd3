"""The pure RFC 9162 functions against a deliberately naive implementation written here.

The naive code follows the RFC's recursive definitions literally, on Python lists,
with no shared code, for every tree size from 1 to 64.
"""

from __future__ import annotations

import hashlib

import pytest

from taxvault.audit import merkle


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_pow2_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if len(d) == 0:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = largest_pow2_below(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = largest_pow2_below(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_pow2_below(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() * (i % 3 + 1) for i in range(n)]


SIZES = range(1, 65)


def test_empty_tree_root_is_hash_of_empty_string() -> None:
    assert merkle.root_hash([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", SIZES)
def test_root_matches_naive(n: int) -> None:
    assert merkle.root_hash(leaves(n)) == mth(leaves(n))


@pytest.mark.parametrize("n", SIZES)
def test_inclusion_proofs_match_naive_and_verify(n: int) -> None:
    d = leaves(n)
    root = mth(d)
    for i in range(n):
        proof = merkle.inclusion_proof(d, i)
        assert proof == path(i, d)
        assert merkle.verify_inclusion(d[i], i, n, proof, root)
        assert not merkle.verify_inclusion(d[i] + b"x", i, n, proof, root)
        if n > 1:
            assert not merkle.verify_inclusion(d[i], (i + 1) % n, n, proof, root)
            bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
            assert not merkle.verify_inclusion(d[i], i, n, bad, root)
            assert not merkle.verify_inclusion(d[i], i, n, proof[:-1], root)
            assert not merkle.verify_inclusion(d[i], i, n, [*proof, proof[0]], root)
    assert not merkle.verify_inclusion(d[0], n, n, [], root)


@pytest.mark.parametrize("n", SIZES)
def test_consistency_proofs_match_naive_and_verify(n: int) -> None:
    d = leaves(n)
    new_root = mth(d)
    for m in range(0, n + 1):
        proof = merkle.consistency_proof(d, m)
        expected = [] if m in (0, n) else subproof(m, d, True)
        assert proof == expected
        old_root = mth(d[:m])
        assert merkle.verify_consistency(m, n, old_root, new_root, proof) == (m > 0)  # no proof from size 0
        assert merkle.verify_extension(m, n, old_root, new_root, proof)
        if 0 < m < n:
            assert not merkle.verify_consistency(m, n, sha(b"other"), new_root, proof)
            assert not merkle.verify_consistency(m, n, old_root, sha(b"other"), proof)
            bad = [bytes([proof[-1][0] ^ 1]) + proof[-1][1:], *proof[:-1]][::-1]
            assert not merkle.verify_consistency(m, n, old_root, new_root, bad)
            assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])


def test_published_rfc6962_vector() -> None:
    """The eight inputs of the Certificate Transparency reference tests and their roots."""
    vector = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    assert merkle.root_hash(vector[:1]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.root_hash(vector).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert merkle.root_hash(vector) == mth(vector)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(leaves(3), 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(leaves(3), 4)
    assert not merkle.verify_consistency(4, 3, b"", b"", [])
