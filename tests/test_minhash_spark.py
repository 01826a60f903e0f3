"""The MinHash stage on Spark: recall and precision on real near duplicates (English and Chinese),
transitive chains, survivor choice, short and empty documents, the report; connected components
against union-find."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.document import DOCUMENT_SCHEMA, Document
from datapipe.minhash import (
    CLUSTER_KEY,
    CLUSTER_SIZE_KEY,
    MinHashConfig,
    cluster_key,
    component_minima,
    optimal_bands,
    survivor_rank,
    verify_min_matches,
)
from jobs import dedup_minhash
from tests.test_minhash import planted_corpus

pytestmark = pytest.mark.spark

SHORT_AND_EMPTY = [
    Document(id="short-a", text="Contact us", lang="en"),
    Document(id="short-b", text="CONTACT US!", lang="en"),
    Document(id="short-c", text="About us", lang="en"),
    Document(id="short-d", text="联系我们", lang="zh"),
    Document(id="empty-a", text="— … !!!", lang="en"),
    Document(id="empty-b", text="—— !!!", lang="en"),
]
SHORT_ORIGIN = {"short-b": "short-a"}  # the same short text, as far as normalisation can tell


def _write_docs(path: Path, docs: list[Document]) -> None:
    path.mkdir(parents=True)
    rows = [d.to_row() for d in docs]
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part, schema=DOCUMENT_SCHEMA), path / f"part-{i}.parquet")
    (path / "_SUCCESS").write_text("")


def _read(path: Path) -> list[dict]:
    return [r for f in sorted(path.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def result(spark, tmp_path_factory):
    corpus = planted_corpus(90, 80)
    root = tmp_path_factory.mktemp("minhash")
    _write_docs(root / "in", corpus.docs + SHORT_AND_EMPTY)
    stats = dedup_minhash.run(["--input", str(root / "in"), "--output", str(root / "out")])
    kept = {r["id"]: r for r in _read(root / "out")}
    rejects = {r["id"]: r for r in _read(root / "out" / "_rejects")}
    for r in list(kept.values()) + list(rejects.values()):
        r["annotations"] = dict(r["annotations"] or [])
    return corpus, stats, kept, rejects, root


def _cluster_of(doc: dict) -> float | None:
    return doc["annotations"].get(CLUSTER_KEY)


def _clusters(kept: dict, rejects: dict) -> dict[float, list[dict]]:
    clusters = defaultdict(list)
    for doc in list(kept.values()) + list(rejects.values()):
        if _cluster_of(doc) is not None:
            clusters[_cluster_of(doc)].append(doc)
    return clusters


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_recall_on_real_near_duplicates(result, lang):
    corpus, _, kept, rejects, _ = result
    docs = {**kept, **rejects}
    targets = [(a, b) for a, b, j, la in corpus.pairs if la == lang and j >= 0.8]
    assert len(targets) >= 40
    found = [a for a, b in targets if _cluster_of(docs[a]) is not None and _cluster_of(docs[a]) == _cluster_of(docs[b])]
    assert len(found) / len(targets) >= 0.95, f"{lang}: {len(found)}/{len(targets)} planted pairs with J >= 0.8 found"


def test_no_cluster_joins_distinct_originals(result):
    corpus, _, kept, rejects, _ = result
    clusters = _clusters(kept, rejects)
    assert len(clusters) >= 100
    for members in clusters.values():
        origins = {corpus.group.get(d["id"], SHORT_ORIGIN.get(d["id"], d["id"])) for d in members}
        assert len(origins) == 1, sorted(d["id"] for d in members)


def test_transitive_chains_form_one_cluster(result):
    corpus, _, kept, rejects, _ = result
    docs = {**kept, **rejects}
    config = MinHashConfig()
    for chain in corpus.chains:
        lang = docs[chain[0]]["lang"]
        # the ends cannot be linked directly: their signatures disagree beyond the verification cut
        sigs, _, _ = corpus.hasher.signatures([docs[chain[0]]["text"], docs[chain[-1]]["text"]], [lang, lang])
        assert (sigs[0] == sigs[1]).sum() < verify_min_matches(config.threshold, config.num_perm, config.verify_miss_rate)
        assert len({_cluster_of(docs[i]) for i in chain}) == 1 and _cluster_of(docs[chain[0]]) is not None
        assert docs[chain[0]]["annotations"][CLUSTER_SIZE_KEY] == len(chain)


def test_one_survivor_per_cluster_by_quality_then_id(result):
    _, _, kept, rejects, _ = result
    clusters = _clusters(kept, rejects)
    ties = 0
    for key, members in clusters.items():
        survivors = [d for d in members if d["id"] in kept]
        assert len(survivors) == 1
        best = min(members, key=lambda d: (survivor_rank(d["annotations"].get("quality.score")), d["id"]))
        assert survivors[0]["id"] == best["id"]
        ranks = sorted(survivor_rank(d["annotations"].get("quality.score")) for d in members)
        ties += ranks[0] == ranks[1]
        assert key == cluster_key(best["id"])
        assert all(d["annotations"][CLUSTER_SIZE_KEY] == len(members) for d in members)
        assert all(d["reject_detail"] == best["id"] for d in members if d["id"] in rejects)  # which copy survived
    assert ties >= 5  # the id tie-break was exercised


def test_rejects_carry_reason_and_unchanged_text(result):
    corpus, _, kept, rejects, _ = result
    originals = {d.id: d for d in corpus.docs + SHORT_AND_EMPTY}
    assert rejects and all(r["reject_reason"] == "minhash:duplicate" and r["reject_stage"] == "dedup_minhash" for r in rejects.values())
    assert set(kept) | set(rejects) == set(originals) and not set(kept) & set(rejects)
    for doc in list(kept.values()) + list(rejects.values()):
        assert doc["text"] == originals[doc["id"]].text
        extra = set(doc["annotations"]) - set(originals[doc["id"]].annotations)
        assert extra == (set() if _cluster_of(doc) is None else {CLUSTER_KEY, CLUSTER_SIZE_KEY})


def test_short_and_empty_documents(result):
    _, stats, kept, rejects, _ = result
    docs = {**kept, **rejects}
    # exact (normalised) copies of a short text cluster; other short texts stay apart
    assert _cluster_of(docs["short-a"]) == _cluster_of(docs["short-b"]) is not None
    assert _cluster_of(docs["short-c"]) is None and _cluster_of(docs["short-d"]) is None
    # documents without a token pass untouched instead of all matching each other
    assert {"empty-a", "empty-b"} <= set(kept) and _cluster_of(docs["empty-a"]) is None
    shingling = stats["minhash"]["shingling"]
    assert shingling["docs_no_tokens"] == 2 and shingling["docs_short"] >= 4


def test_stats_report(result):
    corpus, stats, kept, rejects, root = result
    c = stats["counters"]
    n = len(corpus.docs) + len(SHORT_AND_EMPTY)
    assert c["docs_in"] == n and c["docs_out"] == len(kept) and c["drop.minhash:duplicate"] == len(rejects)
    report = stats["minhash"]
    clusters = _clusters(kept, rejects)
    assert report["clusters"] == c["clusters"] == len(clusters)
    assert report["duplicates_removed"] == len(rejects)
    sizes = defaultdict(int)
    for members in clusters.values():
        sizes[str(len(members))] += 1
    assert report["cluster_size_histogram"] == dict(sorted(sizes.items(), key=lambda kv: int(kv[0])))
    config = MinHashConfig()
    bands = optimal_bands(config.threshold, config.num_perm, config.false_positive_weight, config.false_negative_weight)
    assert (report["bands"], report["rows"]) == bands and report["detection_curve"]["0.85"] >= 0.95
    assert report["candidate_pairs"] >= report["verified_pairs"] >= len(rejects)
    assert report["components_on"] == "driver" and report["cc_rounds"] is None
    assert report["shingling"]["docs_char_shingles"] == sum(d.lang == "zh" for d in corpus.docs + SHORT_AND_EMPTY)
    assert json.loads((root / "out" / "_stats.json").read_text())["minhash"] == report
    assert not list(root.glob("out._tmp-*"))  # signatures and checkpoints are cleaned up


def _union_find_components(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def test_components_on_spark_give_the_same_output(result, tmp_path):
    """The star rounds on Spark (a graph too large for the driver) keep and reject exactly what the
    driver's components do, with the same annotations and report."""
    corpus, stats, kept, rejects, root = result
    config = tmp_path / "minhash.yaml"
    config.write_text("driver_components_max_edges: 0\n")
    spark_stats = dedup_minhash.run(["--input", str(root / "in"), "--output", str(tmp_path / "out"), "--config", str(config)])
    assert spark_stats["minhash"]["components_on"] == "spark" and spark_stats["minhash"]["cc_rounds"] >= 2
    same = ("clusters", "docs_in_clusters", "duplicates_removed", "cluster_size_histogram", "verified_pairs")
    assert {k: spark_stats["minhash"][k] for k in same} == {k: stats["minhash"][k] for k in same}
    for name, want in (("out", kept), ("out/_rejects", rejects)):
        got = {r["id"]: r for r in _read(tmp_path / name)}
        for r in got.values():
            r["annotations"] = dict(r["annotations"] or [])
        assert got == want


def _graph() -> tuple[list[str], list[tuple[str, str]]]:
    """Long paths in scrambled order, stars, cycles and random sparse edges over 3,000 nodes."""
    rng = random.Random(3)
    nodes = [f"n{i:05d}" for i in range(3000)]
    shuffled = rng.sample(nodes, len(nodes))
    edges = [(shuffled[i], shuffled[i + 1]) for i in range(300)]  # one path of 301 nodes
    edges += [(shuffled[400], shuffled[i]) for i in range(401, 450)]  # a star
    edges += [(shuffled[i], shuffled[i + 1 if i < 519 else 500]) for i in range(500, 520)]  # a cycle
    edges += [(rng.choice(nodes[1000:]), rng.choice(nodes[1000:])) for _ in range(1500)]
    return nodes, [(a, b) for a, b in edges if a != b]


def test_component_minima_match_union_find():
    nodes, edges = _graph()
    expected = _union_find_components(nodes, edges)
    index = {n: i for i, n in enumerate(nodes)}  # nodes are sorted: index order is node order
    a, b = (np.array([index[e[k]] for e in edges]) for k in (0, 1))
    minima = component_minima(a, b, len(nodes))
    assert {n: nodes[m] for n, m in zip(nodes, minima)} == expected


def test_connected_components_match_union_find(spark, tmp_path):
    """Every node ends pointing at its component's minimum."""
    nodes, edges = _graph()
    expected = _union_find_components(nodes, edges)

    spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))
    rows = [((0.0, max(a, b)), (0.0, min(a, b))) for a, b in edges]
    df = spark.createDataFrame(rows, "a struct<rank: double, id: string>, b struct<rank: double, id: string>").distinct()
    stars, rounds = dedup_minhash.connected_components(df, checkpoint_interval=2, max_iterations=60)
    got = {r["a"]["id"]: r["b"]["id"] for r in stars.collect()}
    stars.unpersist()
    want = {n: root for n, root in expected.items() if n != root}
    assert got == want and rounds >= 3
