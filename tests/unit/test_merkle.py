"""RFC 6962 known-answer tests.

Vectors from github.com/transparency-dev/merkle: testonly/constants.go (LeafInputs,
NodeHashes, RootHashes, CompactTrees), testonly/reference_test.go (TestRefInclusionProof,
TestRefConsistencyProof) and proof/verify_test.go (inclusionProofs, consistencyProofs).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance_ledger.ledger import merkle

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAVES = [merkle.leaf_hash(entry) for entry in LEAF_INPUTS]

NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (leaf index, tree size, proof): reference_test.go TestRefInclusionProof plus the
# verify_test.go inclusionProofs (which number leaves from 1; converted to 0-based here).
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# (old size, new size, proof): reference_test.go TestRefConsistencyProof and the
# verify_test.go consistencyProofs.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_empty_tree_root_is_the_known_value() -> None:
    root = merkle.root_from_leaves([])
    assert base64.b64encode(root).decode() == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert root == hashlib.sha256(b"").digest()


def test_leaf_and_node_hashes_match_the_vectors() -> None:
    for level, hashes in enumerate(NODE_HASHES):
        node = merkle.nodes_from_leaves(LEAVES)
        assert [node(level, i).hex() for i in range(len(hashes))] == hashes


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_for_every_prefix(size: int) -> None:
    assert merkle.root_from_leaves(LEAVES[:size]).hex() == ROOTS[size]


def test_compact_range_emits_every_complete_node_and_keeps_the_frontier() -> None:
    tree = merkle.CompactRange()
    emitted: dict[tuple[int, int], str] = {}
    for size, leaf in enumerate(LEAVES, start=1):
        for level, index, value in tree.append(leaf):
            emitted[(level, index)] = value.hex()
        assert tree.root().hex() == ROOTS[size]
        # The frontier alone restores the tree (CompactTrees in constants.go).
        frontier = [NODE_HASHES[level][index] for level, index in merkle.frontier_positions(size)]
        restored = merkle.CompactRange(size, [bytes.fromhex(h) for h in frontier])
        assert restored.root().hex() == ROOTS[size]
    expected = {
        (level, i): h for level, row in enumerate(NODE_HASHES) if level for i, h in enumerate(row)
    }
    assert emitted == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    node = merkle.nodes_from_leaves(LEAVES[:size])
    got = merkle.inclusion_proof(index, size, node)
    assert _hex(got) == proof
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(index, size, LEAVES[index], got, root)
    assert not merkle.verify_inclusion(index, size, LEAVES[index], got, merkle.EMPTY_ROOT)
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, LEAVES[index], got, root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    node = merkle.nodes_from_leaves(LEAVES[:new])
    got = merkle.consistency_proof(old, new, node)
    assert _hex(got) == proof
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert merkle.verify_consistency(old, new, old_root, new_root, got)
    if got:
        # Corruptions from verify_test.go corruptConsistencyProof.
        flipped = [bytes([got[0][0] ^ 16]) + got[0][1:], *got[1:]]
        assert not merkle.verify_consistency(old, new, old_root, new_root, flipped)
        assert not merkle.verify_consistency(old, new, new_root, old_root, got)
        assert not merkle.verify_consistency(old, new, old_root, new_root, got[:-1])
        assert not merkle.verify_consistency(old, new, old_root, new_root, [*got, new_root])
        assert not merkle.verify_consistency(old, new * 2, old_root, new_root, got)


def test_consistency_edge_cases_from_verify_test() -> None:
    empty, some = merkle.EMPTY_ROOT, bytes(32)
    assert merkle.verify_consistency(0, 0, empty, empty, [])
    assert merkle.verify_consistency(0, 1, empty, some, [])
    assert not merkle.verify_consistency(1, 0, some, empty, [])  # time travel
    assert not merkle.verify_consistency(1, 2, some, empty, [])  # empty proof
    assert not merkle.verify_consistency(1, 1, empty, some, [])  # roots differ
    assert not merkle.verify_consistency(1, 1, empty, empty, [empty])  # proof not empty


@given(st.integers(1, 70), st.data())
def test_proofs_verify_for_any_sizes(new: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(new)]
    node = merkle.nodes_from_leaves(leaves)
    old = data.draw(st.integers(1, new))
    index = data.draw(st.integers(0, new - 1))
    old_root, new_root = merkle.root_from_leaves(leaves[:old]), merkle.root_from_leaves(leaves)
    proof = merkle.consistency_proof(old, new, node)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)
    inclusion = merkle.inclusion_proof(index, new, node)
    assert merkle.verify_inclusion(index, new, leaves[index], inclusion, new_root)


def test_extend_in_uneven_chunks_is_append_leaf_by_leaf() -> None:
    one_by_one, chunked = merkle.CompactRange(), merkle.CompactRange()
    appended = [node for leaf in LEAVES for node in one_by_one.append(leaf)]
    extended, start = [], 0
    for size in (1, 3, 0, 2):  # the writer extends by each partition's run of a batch
        extended += chunked.extend(LEAVES[start : start + size])
        start += size
    extended += chunked.extend(LEAVES[start:])
    assert extended == appended
    assert (chunked.size, chunked.root()) == (one_by_one.size, one_by_one.root())
