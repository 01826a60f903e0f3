"""Section 4: how near-duplicates clustered under MinHash, and what each benchmark's n-grams matched in
decontamination."""

from __future__ import annotations

from report.html import count, not_in_run, note, table
from report.layout import Run
from report.svg import bar_chart

TITLE = "Near-duplicates and decontamination"
MAX_SIZE_BARS = 20
"""More distinct cluster sizes than this are grouped in powers of two (2, 3-4, 5-8, ...)."""


def size_buckets(histogram: dict[str, int]) -> list[tuple[str, int]]:
    """(cluster size or range of sizes, clusters), smallest first."""
    sizes = sorted((int(k), v) for k, v in histogram.items())
    if len(sizes) <= MAX_SIZE_BARS:
        return [(str(s), n) for s, n in sizes]
    buckets: dict[int, int] = {}
    for s, n in sizes:
        upper = 1 << (s - 1).bit_length()  # the power of two at or above s
        buckets[upper] = buckets.get(upper, 0) + n
    return [(str(u) if u == 2 else f"{u // 2 + 1}-{u}", n) for u, n in sorted(buckets.items())]


def minhash_part(run: Run) -> str:
    stats = run.stats("dedup_minhash")
    if stats is None:
        return "<h3>MinHash near-duplicates</h3>" + not_in_run("the MinHash stage's output (dedup_minhash/_stats.json)")
    m = stats.get("minhash", {})
    threshold = stats.get("config", {}).get("threshold")
    facts = [["documents in", count(stats.get("counters", {}).get("docs_in"))],
             ["Jaccard threshold", threshold if threshold is not None else ""],
             ["bands x rows (permutations)", f"{m.get('bands', '?')} x {m.get('rows', '?')} ({m.get('num_perm', '?')})"],
             ["candidate pairs", count(m.get("candidate_pairs"))], ["verified pairs", count(m.get("verified_pairs"))],
             ["clusters", count(m.get("clusters"))], ["documents in clusters", count(m.get("docs_in_clusters"))],
             ["duplicates removed", count(m.get("duplicates_removed"))]]
    parts = ["<h3>MinHash near-duplicates</h3>", note("From dedup_minhash/_stats.json (minhash): a cluster is a set of "
                                                     "documents joined by verified near-duplicate pairs; one per cluster is kept."),
             table(["", "value"], facts, numeric=(1,))]
    buckets = size_buckets(m.get("cluster_size_histogram") or {})
    if buckets:
        parts.append(bar_chart([b for b, _ in buckets], {"clusters": [n for _, n in buckets]},
                               title="Cluster sizes (documents per cluster)", x_label="clusters", width=520))
    else:
        parts.append(note("no near-duplicate cluster"))
    return "".join(parts)


def decontamination_part(run: Run) -> str:
    stats = run.stats("decontaminate")
    if stats is None:
        return "<h3>Decontamination</h3>" + not_in_run("the decontamination stage's output (decontaminated/_stats.json)")
    c = stats.get("counters", {})
    indexed = stats.get("benchmark_index", {}).get("benchmarks", {})
    per_bench: dict[str, dict[str, int]] = {name: {} for name in indexed}
    for key, n in c.items():
        if key.startswith("decontam.") and "." in key[len("decontam."):]:
            bench, metric = key[len("decontam."):].rsplit(".", 1)
            per_bench.setdefault(bench, {})[metric] = n
    rows = [[b, count(indexed.get(b, {}).get("items")), count(indexed.get(b, {}).get("ngrams")), count(m.get("docs", 0)),
             count(m.get("ngrams", 0)), count(c.get(f"drop.decontam:{b}", 0))] for b, m in sorted(per_bench.items())]
    config = stats.get("config", {})
    summary = (f"Mode {config.get('mode', '?')}, {config.get('word_ngram', '?')}-word n-grams; {count(c.get('decontam.docs_cut', 0))} "
               f"documents cut ({count(c.get('decontam.cuts', 0))} cuts, {count(c.get('decontam.chars_removed', 0))} characters), "
               f"{count(c.get('docs_in', 0) - c.get('docs_out', 0))} dropped. From decontaminated/_stats.json "
               "(counters decontam.<benchmark>.*, drop.decontam:<benchmark>, benchmark_index).")
    return ("<h3>Decontamination</h3>" + note(summary)
            + (table(["benchmark", "items", "n-grams indexed", "documents matched", "n-gram matches", "documents dropped"], rows,
                     numeric=range(1, 6)) if rows else note("no benchmark indexed")))


def body(run: Run) -> str:
    return minhash_part(run) + decontamination_part(run)
