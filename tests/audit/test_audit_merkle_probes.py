"""Merkle verification edge cases, for both implementations: ``audit/merkle.py`` and the standalone verifier.

The probes follow the set of the reference library (transparency-dev/merkle, proof/verify_test.go):
hashes of the wrong length, sizes 0, equal sizes, time travel, garbage before and after a proof,
a flipped bit, a missing or inserted node. Where taxvault is stricter than the reference the
table says so (``stricter``): every hash is 32 bytes, a tree of size 0 has the empty-tree hash as
its root, and there is no consistency proof from size 0 (``verify_extension`` / ``extends``
accept an empty head before a larger one, which is what a chain of signed heads needs).
Then hypothesis: random trees, every valid proof verifies, every single mutation fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from helpers_audit import event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from test_audit_merkle import largest_pow2_below, mth, path, subproof

from taxvault.audit import merkle, verifier
from taxvault.audit.export import export_log
from taxvault.audit.log import AuditLog
from taxvault.audit.signing import public_key_pem

Consistency = Callable[[int, int, bytes, bytes, Sequence[bytes]], bool]
CONSISTENCY: dict[str, Consistency] = {"merkle": merkle.verify_consistency, "verifier": verifier.verify_consistency}
EXTENSION: dict[str, Consistency] = {"merkle": merkle.verify_extension, "verifier": verifier.extends}

EMPTY = hashlib.sha256(b"").digest()
SOME = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
RFC6962_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
H = merkle.leaf_hash(b"data")  # the root of the one-leaf tree ["data"]
R1, R2 = b"don't care 1", b"don't care 2"  # the reference's 12-byte stand-ins


# -- inclusion (merkle.py; the standalone verifier recomputes roots and has no inclusion check) --------

INCLUSION_TABLE = [
    # (leaf hash, index, size, proof, root, accepted, what)
    (b"", 0, 1, [], b"", False, "issue 17: empty leaf hash and root (stricter: lengths checked)"),
    (H, 0, 1, [], H, True, "single entry: the leaf hash is the root"),
    (H, 0, 1, [], b"", False, "single entry, empty root"),
    (b"", 0, 1, [], H, False, "single entry, empty leaf hash"),
    (H[:31], 0, 1, [], H[:31], False, "31-byte leaf and root that are equal (stricter)"),
    (H + b"\0", 0, 1, [], H + b"\0", False, "33-byte leaf and root that are equal (stricter)"),
    (H, 0, 1, [b""], H, False, "single entry, an empty proof node"),
    *[
        (leaf, i, n, [], root, False, f"index {i}, size {n}: {what}")
        for i, n in ((0, 0), (0, 1), (1, 0), (2, 1))
        for leaf, root, what in ((SOME, b"", "empty root"), (b"", EMPTY, "empty leaf"), (SOME, EMPTY, "no such leaf"))
    ],
    (EMPTY, 0, 0, [], EMPTY, False, "no leaf is in a tree of size 0"),
]


@pytest.mark.parametrize(("leaf", "index", "size", "proof", "root", "accepted", "what"), INCLUSION_TABLE)
def test_inclusion_probes(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, accepted: bool, what: str
) -> None:
    assert merkle.verify_inclusion_hash(leaf, index, size, proof, root) is accepted, what


def corrupt_inclusion(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes) -> list[tuple[object, ...]]:
    """The reference's probes around a good inclusion proof; none may verify."""
    flipped = [[*proof[:i], bytes([proof[i][0] ^ 8]) + proof[i][1:], *proof[i + 1 :]] for i in range(len(proof))]
    probes: list[tuple[object, ...]] = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, EMPTY),
        (leaf, index, size, proof, SOME),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
        *[(leaf, index, size, p, root) for p in flipped],
    ]
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], SOME, *proof[1:]], root))
    return probes


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 8), (5, 8), (2, 3), (1, 5), (6, 7), (7, 8)])
def test_inclusion_of_the_rfc6962_vector_and_the_reference_corruptions(index: int, size: int) -> None:
    d = RFC6962_LEAVES[:size]
    proof, root, leaf = path(index, d), mth(d), merkle.leaf_hash(d[index])
    assert merkle.verify_inclusion_hash(leaf, index, size, proof, root)
    for probe in corrupt_inclusion(index, size, proof, root, leaf):
        assert not merkle.verify_inclusion_hash(*probe), probe  # type: ignore[arg-type]


# -- consistency (both implementations) --------------------------------------------------------------

CONSISTENCY_TABLE = [
    # (size1, size2, root1, root2, proof, accepted, what)
    (0, 0, R1, R2, [], False, "sizes 0, roots differ"),
    (1, 1, R1, R2, [], False, "sizes 1, roots differ"),
    (0, 0, R1, R1, [], False, "sizes 0, equal 12-byte roots (reference: accepted; stricter)"),
    (0, 0, SOME, SOME, [], False, "issue 17: sizes 0, equal roots that are not the empty-tree hash"),
    (0, 0, EMPTY, EMPTY, [], True, "sizes 0, the empty-tree hash"),
    (0, 1, R1, R2, [], False, "from size 0 (an older reference: accepted; the current one refuses)"),
    (0, 1, EMPTY, H, [], False, "issue 17: from size 0 to any new root: no such proof"),
    (1, 1, R2, R2, [], False, "sizes 1, equal 12-byte roots (reference: accepted; stricter)"),
    (1, 1, H, H, [], True, "sizes 1, equal roots"),
    (1, 0, R1, R2, [], False, "time travel to the past"),
    (2, 1, R1, R2, [], False, "time travel to the past"),
    (1, 0, H, EMPTY, [], False, "time travel to the past, well-formed roots"),
    (1, 2, R1, R2, [], False, "empty proof"),
    (0, 0, EMPTY, R2, [], False, "roots differ"),
    (1, 1, EMPTY, R2, [], False, "roots differ"),
    (0, 0, EMPTY, EMPTY, [EMPTY], False, "equal roots, a proof where none is due"),
    (0, 1, EMPTY, EMPTY, [EMPTY], False, "equal roots, a proof where none is due"),
    (1, 1, EMPTY, EMPTY, [EMPTY], False, "equal roots, a proof where none is due"),
    (1, 1, H, H, [b""], False, "equal roots, an empty proof node"),
]


@pytest.mark.parametrize("impl", sorted(CONSISTENCY))
@pytest.mark.parametrize(("size1", "size2", "root1", "root2", "proof", "accepted", "what"), CONSISTENCY_TABLE)
def test_consistency_probes(
    impl: str, size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], accepted: bool, what: str
) -> None:
    assert CONSISTENCY[impl](size1, size2, root1, root2, proof) is accepted, what


@pytest.mark.parametrize("impl", sorted(EXTENSION))
def test_an_empty_head_extends_into_any_larger_one_only_with_the_empty_root(impl: str) -> None:
    extends = EXTENSION[impl]
    root5 = mth(RFC6962_LEAVES[:5])
    assert extends(0, 5, EMPTY, root5, [])
    assert not extends(0, 5, SOME, root5, []), "a size-0 head whose root is not the empty-tree hash"
    assert not extends(0, 5, EMPTY, root5, [EMPTY]), "a proof where none is due"
    assert not extends(0, 5, EMPTY, root5[:31], []), "a short newer root"
    assert not extends(0, 0, SOME, SOME, [])
    assert extends(0, 0, EMPTY, EMPTY, [])
    assert extends(2, 5, mth(RFC6962_LEAVES[:2]), root5, subproof(2, RFC6962_LEAVES[:5], True))


def corrupt_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[object, ...]]:
    """The reference's probes around a good consistency proof; none may verify."""
    flipped = [[*proof[:i], bytes([proof[i][0] ^ 16]) + proof[i][1:], *proof[i + 1 :]] for i in range(len(proof))]
    probes: list[tuple[object, ...]] = [
        (size1 - 1, size2, root1, root2, proof),
        (size1 + 1, size2, root1, root2, proof),
        (size1 ^ 2, size2, root1, root2, proof),
        (size1, size2 * 2, root1, root2, proof),
        (size1, size2 // 2, root1, root2, proof),
        (size1, size2, b"WrongRoot", root2, proof),
        (size1, size2, root1, b"WrongRoot", proof),
        (size1, size2, root2, root1, proof),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*proof, b""]),
        (size1, size2, root1, root2, [*proof, root1]),
        (size1, size2, root1, root2, [*proof, root2]),
        (size1, size2, root1, root2, [b"", *proof]),
        (size1, size2, root1, root2, [root1, *proof]),
        (size1, size2, root1, root2, [root2, *proof]),
        (size1, size2, root1, root2, [proof[0], *proof]),
        (size1, size2, root1, root2, proof[:-1]),
        *[(size1, size2, root1, root2, p) for p in flipped],
    ]
    return probes


@pytest.mark.parametrize("impl", sorted(CONSISTENCY))
@pytest.mark.parametrize(("size1", "size2"), [(1, 8), (6, 8), (2, 5), (6, 7), (4, 8), (3, 7), (1, 2)])
def test_consistency_of_the_rfc6962_vector_and_the_reference_corruptions(impl: str, size1: int, size2: int) -> None:
    verify = CONSISTENCY[impl]
    d = RFC6962_LEAVES[:size2]
    proof, root1, root2 = subproof(size1, d, True), mth(d[:size1]), mth(d)
    assert verify(size1, size2, root1, root2, proof)
    for probe in corrupt_consistency(size1, size2, root1, root2, proof):
        assert not verify(*probe), probe  # type: ignore[arg-type]


def test_a_verified_chain_of_heads_may_start_with_the_empty_tree(tmp_path: Path, db_engine: Engine) -> None:
    """The standalone verifier accepts an export whose first signed head is of size 0 (no proof from it)."""
    key_path = tmp_path / "sth.key"
    with AuditLog(db_engine, key_path=key_path) as log:
        first = log.sign_tree_head()
        log.append_many([event(i) for i in range(5)])
        log.sign_tree_head()
        export_log(log, tmp_path / "export", sign=False)
        trusted = public_key_pem(log.public_key())
    assert (first.tree_size, first.root_hash) == (0, EMPTY)
    report = verifier.verify_export(tmp_path / "export", trusted)
    assert report.ok and report.sths == 2, report.problems


# -- hypothesis: random trees ------------------------------------------------------------------------


def sides(index: int, size: int) -> list[bool]:
    """For each proof node, leaf side up, whether the sibling is to the right (the RFC's recursion)."""
    if size == 1:
        return []
    k = largest_pow2_below(size)
    if index < k:
        return [*sides(index, k), True]
    return [*sides(index - k, size - k), False]


def mutations(value: bytes) -> list[bytes]:
    """Every single-bit flip of ``value``, and one byte more or fewer."""
    flips = [value[:i] + bytes([value[i] ^ (1 << b)]) + value[i + 1 :] for i in range(len(value)) for b in range(8)]
    return [*flips, value + b"\0", value[:-1]]


def trees(min_size: int) -> st.SearchStrategy[list[bytes]]:
    """Distinct leaves: with two equal leaves, the proof of one is rightly a proof of the other."""
    return st.lists(st.binary(max_size=8), min_size=min_size, max_size=24, unique=True)


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(d=trees(1), data=st.data())
def test_random_inclusion_proofs_verify_and_every_mutation_fails(d: list[bytes], data: st.DataObject) -> None:
    n = len(d)
    i = data.draw(st.integers(0, n - 1))
    proof, root, leaf = merkle.inclusion_proof(d, i), merkle.root_hash(d), merkle.leaf_hash(d[i])
    verify = merkle.verify_inclusion_hash
    assert verify(leaf, i, n, proof, root)
    assert all(not verify(m, i, n, proof, root) for m in mutations(leaf))
    assert all(not verify(leaf, i, n, proof, m) for m in mutations(root))
    for k in range(len(proof)):
        assert all(not verify(leaf, i, n, [*proof[:k], m, *proof[k + 1 :]], root) for m in mutations(proof[k]))
        assert not verify(leaf, i, n, proof[:k] + proof[k + 1 :], root)
    for k in range(len(proof) + 1):
        assert not verify(leaf, i, n, [*proof[:k], SOME, *proof[k:]], root)
    assert all(not verify(leaf, j, n, proof, root) for j in range(-1, n + 1) if j != i)
    # Another size verifies exactly when the proof has the same shape there (hashes cannot tell).
    for other in range(0, 2 * n + 2):
        if other != n:
            same_shape = i < other and sides(i, other) == sides(i, n)
            assert verify(leaf, i, other, proof, root) is same_shape, other


@FAST
@given(d=trees(2), data=st.data())
def test_random_consistency_proofs_verify_in_both_and_every_mutation_fails(d: list[bytes], data: st.DataObject) -> None:
    n = len(d)
    m = data.draw(st.integers(1, n - 1))
    proof, old, new = merkle.consistency_proof(d, m), merkle.root_hash(d[:m]), merkle.root_hash(d)
    for verify in (*CONSISTENCY.values(), *EXTENSION.values()):
        assert verify(m, n, old, new, proof)
        assert all(not verify(m, n, x, new, proof) for x in mutations(old))
        assert all(not verify(m, n, old, x, proof) for x in mutations(new))
        for k in range(len(proof)):
            assert all(not verify(m, n, old, new, [*proof[:k], x, *proof[k + 1 :]]) for x in mutations(proof[k]))
            assert not verify(m, n, old, new, proof[:k] + proof[k + 1 :])
        for k in range(len(proof) + 1):
            assert not verify(m, n, old, new, [*proof[:k], SOME, *proof[k:]])
        for probe in corrupt_consistency(m, n, old, new, proof):
            assert not verify(*probe), probe  # type: ignore[arg-type]
