"""The mixture: Table 1 defaults, water-filling, the size rule, exact quotas, quality weights, the
token unit with a tokenizer, and the manifest (pure, then the job on Spark)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datapipe import mixture
from datapipe.config import ConfigError, load_config
from datapipe.document import Document
from datapipe.mixture import (
    PREFIX_CHARS_ANNOTATION,
    BytesPerTokenEstimate,
    DomainSupply,
    DomainTarget,
    MixConfig,
    MixStage,
    QualityWeighting,
    TokenRates,
    expand_copies,
    plan_mixture,
)
from datapipe.stage import doc_bytes, run_documents
from sample_corpus.compose import Composer
from tests.conftest import ROOT

TABLE1 = {  # Tele-FLM technical report, Table 1: sampling proportion (%), epochs
    "WebText": (75.21, 1.0), "Code": (9.81, 1.0), "Book": (7.17, 0.8), "WorldKnowledge": (2.87, 2.5),
    "QA": (2.12, 1.0), "AcademicPaper": (0.99, 1.0), "Profession-Law": (1.04, 1.0), "Profession-Math": (0.62, 2.0),
    "Profession-Patent": (0.14, 1.0), "Profession-Medical": (0.02, 1.0), "ClassicalChinese": (0.02, 2.5),
}


def supply(tokens: int) -> DomainSupply:
    return DomainSupply(documents=tokens // 100, bytes=4 * tokens, tokens=tokens, weighted_tokens=float(tokens))


def config(total_tokens: int | None = None, **targets: tuple[float, float]) -> MixConfig:
    return MixConfig(total_tokens=total_tokens, domains={d: DomainTarget(share=s, max_epochs=e) for d, (s, e) in targets.items()})


THREE = {"WebText": (60, 1.0), "Book": (30, 1.0), "QA": (10, 1.0)}
THREE_SUPPLY = {"WebText": supply(10_000), "Book": supply(10_000), "QA": supply(100)}


# --- config ---------------------------------------------------------------------------------------


def test_table1_is_the_default_and_the_config_file_agrees():
    cfg = MixConfig()
    assert {d: (t.share, t.max_epochs) for d, t in cfg.domains.items()} == TABLE1
    assert sum(s for s, _ in TABLE1.values()) == pytest.approx(100.0, abs=0.02)
    assert load_config(MixConfig, ROOT / "configs" / "mix.yaml") == cfg
    assert cfg.total_tokens is None and cfg.tolerance == 0.1 and cfg.quality.buckets == []


@pytest.mark.parametrize("text, key", [
    ("domains:\n  WebTxt: {share: 1, max_epochs: 1}\n", "WebTxt"),
    ("domains:\n  WebText: {share: 1, max_epochs: 0}\n", "max_epochs"),
    ("domains:\n  WebText: {share: 0, max_epochs: 1}\n", "positive share"),
    ("total_tokens: 0\n", "total_tokens"),
    ("tolerance: -1\n", "tolerance"),
    ("bytes_per_token: {languages: {en: 0}}\n", "bytes_per_token.languages.en"),
    ("bytes_per_token: {domains: {Web: 3}}\n", "Web"),
    ("quality: {annotation: quality.grade}\n", "quality.annotation"),
    ("quality: {domains: [Webtext]}\n", "Webtext"),
    ("quality: {buckets: [{low: 0.5, high: 0.2, weight: 1}]}\n", "quality.buckets.0"),
    ("quality: {buckets: [{low: 0, high: 0.6, weight: 1}, {low: 0.5, high: 1, weight: 2}]}\n", "overlap"),
    ("quality: {buckets: [{low: 0, high: 0.5, weight: 0}]}\n", "weight"),
    ("epochs: 2\n", "epochs"),
])
def test_bad_config_names_the_key(tmp_path, text, key):
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(MixConfig, path)


def test_token_rates_measured_then_domain_then_language():
    rates = TokenRates(BytesPerTokenEstimate(domains={"Code": 3.0}, languages={"zh": 4.0, "en": 5.0}, default=2.0), {"Book": 8.0})
    assert rates.bytes_per_token("Code", "python") == 3.0
    assert rates.bytes_per_token("WebText", "zh-Hant") == rates.bytes_per_token("WebText", "zh_Hans") == 4.0
    assert rates.bytes_per_token("WebText", "sw") == rates.bytes_per_token("WebText", None) == 2.0
    assert rates.bytes_per_token("Book", "en") == 8.0
    assert rates.tokens("WebText", "en", 12) == 2 and rates.tokens("WebText", "en", 1) == 1 and rates.tokens("WebText", "en", 0) == 0


# --- plan: water-filling and the size rule ---------------------------------------------------------


def test_a_short_domain_gives_all_it_has_and_the_others_share_its_shortfall():
    plan = plan_mixture(config(5_000, **THREE), THREE_SUPPLY)
    by = {p.domain: p for p in plan.domains}
    # QA's 10% of 5,000 is 500 tokens; it has 100 (1 epoch): all of it, and 400 go to the others 60:30
    assert by["QA"].short and by["QA"].quota == 100 and by["QA"].epochs == 1.0
    assert (by["WebText"].quota, by["Book"].quota) == (3_267, 1_633)
    assert not by["WebText"].short and not by["Book"].short
    assert plan.total_tokens == 5_000
    assert by["QA"].target_share == pytest.approx(0.1) and by["QA"].planned_share == pytest.approx(0.02)
    assert by["WebText"].planned_share / by["Book"].planned_share == pytest.approx(2.0)


def test_default_size_is_the_largest_share_domain_at_its_cap():
    plan = plan_mixture(config(**THREE), THREE_SUPPLY)
    by = {p.domain: p for p in plan.domains}
    # WebText's cap (10,000 tokens at 1 epoch) sets the level: 10,000 / 0.6; Book 5,000; QA short at 100
    assert (by["WebText"].quota, by["Book"].quota, by["QA"].quota) == (10_000, 5_000, 100)
    assert not by["WebText"].short and by["QA"].short and "WebText" in plan.size_rule
    # any larger mixture would make WebText short too
    bigger = {p.domain: p for p in plan_mixture(config(plan.total_tokens + 100, **THREE), THREE_SUPPLY).domains}
    assert bigger["WebText"].short and bigger["WebText"].quota == 10_000


def test_epoch_caps_bound_every_domain_and_a_total_beyond_them_is_an_error():
    targets = {"WebText": (50, 1.0), "WorldKnowledge": (50, 2.5)}
    plan = plan_mixture(config(27_000, **targets), {"WebText": supply(10_000), "WorldKnowledge": supply(10_000)})
    assert {p.domain: p.quota for p in plan.domains} == {"WebText": 10_000, "WorldKnowledge": 17_000}
    with pytest.raises(ValueError, match="total_tokens 35,001"):
        plan_mixture(config(35_001, **targets), {"WebText": supply(10_000), "WorldKnowledge": supply(10_000)})


def test_domains_without_documents_or_without_share_are_reported():
    plan = plan_mixture(config(**THREE), {"WebText": supply(1_000), "Code": supply(500)})
    by = {p.domain: p for p in plan.domains}
    assert by["Code"].quota == 0 and by["Book"].short and by["Book"].quota == 0 and by["WebText"].quota == 1_000
    assert any("Book" in w and "no documents" in w for w in plan.warnings)
    assert any("Code" in w and "no target share" in w for w in plan.warnings)
    with pytest.raises(ValueError, match="no domain"):
        plan_mixture(config(**THREE), {"Code": supply(500)})


# --- exact quotas and quality weights, in this process ----------------------------------------------


def group_sum(entries, keys: int) -> list[tuple]:
    """Entries summed by their first ``keys`` fields (what the job's groupBy does)."""
    sums: dict[tuple, list] = {}
    for e in entries:
        acc = sums.setdefault(e[:keys], [0] * (len(e) - keys))
        for i, v in enumerate(e[keys:]):
            acc[i] += v
    return [k + tuple(v) for k, v in sums.items()]


def mix_here(cfg: MixConfig, docs: list[Document]):
    """The job's passes over ``docs`` in this process: supply, plan, histogram, boundary, the stage."""
    rates = TokenRates(cfg.bytes_per_token)
    rows = [{"id": d.id, "domain": d.domain, "bytes": doc_bytes(d), "tokens": rates.tokens(d.domain, d.lang, doc_bytes(d)),
             "weight": cfg.quality.weight(d.domain, d.annotations.get(cfg.quality.annotation))} for d in docs]
    sums = group_sum([(r["domain"], r["weight"], 1, r["bytes"], r["tokens"]) for r in rows], 2)
    plan = plan_mixture(cfg, mixture.domain_supply(sums))
    scales = plan.scales()
    bounds = mixture.boundaries(plan, group_sum([e for r in rows if (e := mixture.histogram_entry(r, scales, cfg.seed))], 2))
    cutoffs, partials = mixture.place_cutoffs(bounds, [e for r in rows if (e := mixture.boundary_entry(r, scales, cfg.seed, bounds))])
    stage = MixStage(scales, cfg.seed, cutoffs, rates, cfg.quality, partials)
    return plan, run_documents(stage, docs), stage.counters


def corpus(n: int = 600, seed: int = 0) -> list[Document]:
    """English and Chinese articles of uneven length in three domains; web pages with a quality rank."""
    rng = random.Random(seed)
    composer = Composer(rng)
    docs = []
    for i in range(n):
        domain = rng.choices(["WebText", "Book", "QA"], weights=[6, 3, 1])[0]
        lang = rng.choice(["en", "zh"])
        text = "\n".join(composer.article(lang).text() for _ in range(rng.choice([1, 1, 2, 5])))
        ann = {"quality.rank": rng.random()} if domain == "WebText" and i % 7 else {}
        docs.append(Document(id=f"{domain}-{i:04d}", text=text, domain=domain, lang=lang, annotations=ann))
    return docs


def tokens_out_by_domain(cfg: MixConfig, outcomes) -> Counter:
    rates = TokenRates(cfg.bytes_per_token)
    out: Counter = Counter()
    for o in outcomes:
        if o.kept:
            out[o.doc.domain] += rates.tokens(o.doc.domain, o.doc.lang, doc_bytes(o.doc))
    return out


@pytest.mark.parametrize("total", [None, 60_000, 1_000_000])
def test_every_domain_gets_exactly_its_quota(total):
    docs = corpus()
    cfg = MixConfig(total_tokens=total, domains={"WebText": DomainTarget(share=70, max_epochs=1.0),
                                                  "Book": DomainTarget(share=20, max_epochs=2.5),
                                                  "QA": DomainTarget(share=10, max_epochs=4.0)})
    plan, outcomes, counters = mix_here(cfg, docs)
    out = tokens_out_by_domain(cfg, outcomes)
    rates = TokenRates(cfg.bytes_per_token)
    for p in plan.domains:  # the prefix copy's last paragraph may not fit: within one paragraph's tokens
        longest_line = max(rates.tokens(d.domain, d.lang, len(line.encode())) for d in docs if d.domain == p.domain for line in d.text.split("\n"))
        assert p.quota - longest_line - 1 <= out[p.domain] <= p.quota + 1, (p, out[p.domain])
        assert counters[f"mix.{p.domain}.tokens_out"] == out[p.domain]
    copies = Counter(o.doc.id for o in outcomes if o.kept)
    for p in plan.domains:  # beyond one epoch, documents are repeated
        assert (p.epochs > 1) == any(n > 1 for doc_id, n in copies.items() if doc_id.startswith(p.domain)), p
    # the same documents in another order: the same mixture
    _, again, _ = mix_here(cfg, list(reversed(docs)))
    assert Counter((o.doc.id, o.doc.annotations.get("mix.copy")) for o in again if o.kept) == \
        Counter((o.doc.id, o.doc.annotations.get("mix.copy")) for o in outcomes if o.kept)


def test_quality_buckets_shift_copies_inside_the_domain_quota():
    docs = corpus(n=900)
    targets = {"WebText": DomainTarget(share=70, max_epochs=1.0), "Book": DomainTarget(share=30, max_epochs=1.0)}
    buckets = [{"low": 0.7, "high": 1.0, "weight": 2.0}, {"low": 0.0, "high": 0.3, "weight": 0.5}]
    cfg = MixConfig(domains=targets, quality=QualityWeighting(buckets=buckets))
    plan, _, counters = mix_here(cfg, docs)
    plain_plan, _, _ = mix_here(MixConfig(domains=targets), docs)
    web = next(p for p in plan.domains if p.domain == "WebText")
    assert web.quota == next(p for p in plain_plan.domains if p.domain == "WebText").quota
    rates = TokenRates(cfg.bytes_per_token)
    available: Counter = Counter()
    for d in docs:
        if d.domain == "WebText":
            available[cfg.quality.weight(d.domain, d.annotations.get("quality.rank"))] += rates.tokens(d.domain, d.lang, doc_bytes(d))
    out = {w: counters[f"mix.WebText.weight={w:g}.tokens_out"] for w in (0.5, 1.0, 2.0)}
    assert sum(out.values()) == pytest.approx(web.quota, abs=max(available.values()) / 20)
    per_token = {w: out[w] / available[w] for w in out}  # copies per available token, by weight
    assert per_token[2.0] / per_token[1.0] == pytest.approx(2.0, rel=0.25)
    assert per_token[0.5] / per_token[1.0] == pytest.approx(0.5, rel=0.25)
    # unscored pages, pages between the buckets and other domains weigh 1
    assert cfg.quality.weight("WebText", None) == cfg.quality.weight("WebText", 0.5) == cfg.quality.weight("Book", 0.9) == 1.0
    assert cfg.quality.weight("WebText", 1.0) == 2.0 and cfg.quality.weight("WebText", 0.0) == 0.5


def test_the_stage_rejects_what_has_no_copy_or_no_share():
    plan = plan_mixture(config(WebText=(1, 1.0)), {"WebText": supply(1_000), "Code": supply(500)})
    assert plan.scales() == {"WebText": 1.0}
    stage = MixStage({"WebText": 0.0}, seed=0)
    outcomes = run_documents(stage, [Document(id="w", text="web"), Document(id="c", text="int x;", domain="Code")])
    assert [o.reason for o in outcomes] == ["mix:downsampled", "mix:no_share"]


# --- manifest ---------------------------------------------------------------------------------------


def test_manifest_warns_when_a_realised_share_is_beyond_tolerance():
    from jobs.mix import manifest, manifest_markdown

    plan = plan_mixture(config(**THREE), THREE_SUPPLY)
    sums = [(d, 1.0, s.documents, s.bytes, s.tokens) for d, s in THREE_SUPPLY.items()]
    # WebText and Book as planned; QA 15% over its planned share
    counters = Counter({"mix.WebText.tokens_out": 10_000, "mix.Book.tokens_out": 5_000, "mix.QA.tokens_out": 115})
    m = manifest(MixConfig(domains=config(**THREE).domains), plan, {}, sums, None, counters)
    deviations = [w for w in m["warnings"] if "deviates" in w]
    assert len(deviations) == 1 and "QA" in deviations[0]
    by = {d["domain"]: d for d in m["domains"]}
    assert by["QA"]["short"] and by["QA"]["cap_tokens"] == 100 and by["QA"]["bytes_per_token_from"] == "estimated"
    assert by["WebText"]["target_share"] == pytest.approx(0.6) and by["WebText"]["realised_share"] == pytest.approx(10_000 / 15_115, abs=1e-6)
    assert "warning: domain QA" in manifest_markdown(m)
    within = manifest(MixConfig(domains=config(**THREE).domains, tolerance=0.2), plan, {}, sums, None, counters)
    assert not [w for w in within["warnings"] if "deviates" in w]


# --- the job on Spark --------------------------------------------------------------------------------


def read_rows(out: Path) -> list[dict]:
    return [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def copy_key(row: dict) -> tuple[str, float]:
    return row["id"], dict(row["annotations"])["mix.copy"]


@pytest.fixture(scope="module")
def mixed(spark, tmp_path_factory):
    """The corpus mixed by the job with a tokenizer and quality buckets, on 3 partitions and on 1."""
    from jobs import mix
    from tests.test_shards_spark import train_small_tokenizer, write_stage_output

    tmp = tmp_path_factory.mktemp("mix")
    docs = corpus()
    stage_output = write_stage_output(tmp / "in", docs, files=3)
    tok_dir = train_small_tokenizer(tmp / "tok", [d.text for d in docs], vocab_size=2000)
    conf = tmp / "mix.yaml"
    conf.write_text(
        "domains:\n  WebText: {share: 70, max_epochs: 1.0}\n  Book: {share: 20, max_epochs: 2.5}\n"
        "  QA: {share: 10, max_epochs: 4.0}\n  Code: {share: 5, max_epochs: 1.0}\n"
        "quality: {buckets: [{low: 0.7, high: 1.0, weight: 2.0}, {low: 0.0, high: 0.3, weight: 0.5}]}\n"
    )
    outs = []
    for partitions in ("3", "1"):
        out = tmp / f"out{partitions}"
        mix.run(["--input", str(stage_output), "--tokenizer", str(tok_dir), "--output", str(out), "--config", str(conf),
                 "--partitions", partitions])
        outs.append(out)
    return docs, tok_dir, outs


@pytest.mark.spark
def test_job_quotas_are_exact_and_the_same_on_any_partitioning(mixed):
    docs, _, (out3, out1) = mixed
    m = json.loads((out3 / "_manifest.json").read_text())
    assert m["unit"] == "tokens" and m["tokenizer"]["sha256"]
    by = {d["domain"]: d for d in m["domains"]}
    assert by["Code"]["short"] and by["Code"]["documents"] == 0  # no documents: its share went to the others
    bpt = {d: by[d]["bytes"] / by[d]["tokens"] for d in ("WebText", "Book", "QA")}
    for domain in ("WebText", "Book", "QA"):
        largest = max(doc_bytes(d) for d in docs if d.domain == domain) / bpt[domain]
        assert abs(by[domain]["tokens_out"] - by[domain]["quota_tokens"]) <= largest / 2 + 1, by[domain]
        assert by[domain]["realised_share"] == pytest.approx(by[domain]["planned_share"], rel=0.1)
    assert not by["WebText"]["short"] and by["WebText"]["epochs"] == pytest.approx(1.0)  # the size rule
    assert [w["weight"] for w in by["WebText"]["quality_weights"]] == [0.5, 1.0, 2.0]
    rows3, rows1 = read_rows(out3), read_rows(out1)
    assert sorted(map(copy_key, rows3)) == sorted(map(copy_key, rows1))
    assert len(rows3) == sum(d["documents_out"] for d in m["domains"])
    assert json.loads((out1 / "_manifest.json").read_text())["domains"] == m["domains"]
    assert "| WebText |" in (out3 / "_manifest.md").read_text()


@pytest.mark.spark
def test_job_measures_bytes_per_token_with_the_tokenizer(mixed):
    from tokenizer.vocab import load_tokenizer

    docs, tok_dir, (out, _) = mixed
    tok, _ = load_tokenizer(tok_dir)
    by = {d["domain"]: d for d in json.loads((out / "_manifest.json").read_text())["domains"]}
    for domain in ("WebText", "Book", "QA"):
        texts = [d.text for d in docs if d.domain == domain]  # under measure_bytes: every document is measured
        tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
        assert by[domain]["bytes_per_token_from"] == f"measured on {len(texts):,} documents, {sum(len(t.encode()) for t in texts):,} bytes"
        assert by[domain]["bytes_per_token"] == pytest.approx(sum(len(t.encode()) for t in texts) / tokens, rel=0.01)


def test_help():
    from jobs import mix

    with pytest.raises(SystemExit) as exc:
        mix.main(["--help"])
    assert exc.value.code == 0


def test_a_few_large_documents_still_give_their_small_quota_exactly():
    """15 LaTeX-chapter-sized documents, a quota of a fraction of one: the document past the cutoff gives
    a prefix of whole paragraphs, so the domain's share is met instead of being off by half a document."""
    rng = random.Random(5)
    composer = Composer(rng)
    big = [Document(id=f"paper-{i}", text="\n".join(composer.article("en").text() for _ in range(40)), domain="AcademicPaper",
                    lang="en") for i in range(15)]
    web = [Document(id=f"web-{i}", text=composer.article("en").text(), domain="WebText", lang="en") for i in range(400)]
    cfg = MixConfig(domains={"WebText": DomainTarget(share=98.7, max_epochs=1.0), "AcademicPaper": DomainTarget(share=1.3, max_epochs=1.0)})
    plan, outcomes, counters = mix_here(cfg, big + web)
    paper = next(p for p in plan.domains if p.domain == "AcademicPaper")
    rates = TokenRates(cfg.bytes_per_token)
    assert paper.quota < min(rates.tokens("AcademicPaper", "en", doc_bytes(d)) for d in big)  # less than any one document
    out = tokens_out_by_domain(cfg, outcomes)
    longest_line = max(rates.tokens("AcademicPaper", "en", len(line.encode())) for d in big for line in d.text.split("\n"))
    assert paper.quota - longest_line - 1 <= out["AcademicPaper"] <= paper.quota + 1
    (prefix,) = [o.doc for o in outcomes if o.kept and o.doc.domain == "AcademicPaper"]
    original = next(d for d in big if d.id == prefix.id)
    assert original.text.startswith(prefix.text) and 0 < prefix.annotations["mix.prefix"] < 1


@pytest.mark.spark
def test_job_recording_copies_gives_the_same_rows_and_shards(mixed, tmp_path):
    """``write_copies: false``: one row per drawn document; expanded, exactly the rows written copy by
    copy, and the shards stage makes byte-identical shards of either."""
    from jobs import mix, shards
    from tests.test_shards_spark import config_file, shard_files

    _, tok_dir, (written, _) = mixed
    root = written.parent
    conf = tmp_path / "mix.yaml"
    conf.write_text((root / "mix.yaml").read_text() + "write_copies: false\n")
    recorded = tmp_path / "recorded"
    mix.run(["--input", str(root / "in"), "--tokenizer", str(tok_dir), "--output", str(recorded), "--config", str(conf)])
    rows = read_rows(recorded)
    assert len(rows) < len(read_rows(written)) and any(dict(r["annotations"]).get(PREFIX_CHARS_ANNOTATION) for r in rows)

    def as_written(row: dict) -> tuple:
        return row["id"], row["text"], sorted(dict(row["annotations"]).items())

    expanded = [d.to_row() for r in rows for d in expand_copies(Document.from_row(r))]
    assert sorted(map(as_written, expanded)) == sorted(map(as_written, read_rows(written)))
    assert json.loads((recorded / "_manifest.json").read_text())["domains"] == json.loads((written / "_manifest.json").read_text())["domains"]
    made = {}
    for name, mixed_dir in (("written", written), ("recorded", recorded)):
        shards.run(["--input", str(mixed_dir), "--tokenizer", str(tok_dir), "--output", str(tmp_path / name),
                    "--config", str(config_file(tmp_path))])
        made[name] = shard_files(tmp_path / name)
    assert made["written"] == made["recorded"] and made["written"]
