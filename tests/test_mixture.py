"""Mixture planning (pure) and the mix stage on Spark."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.config import ConfigError, load_config
from datapipe.document import DOCUMENT_SCHEMA, Document
from datapipe.mixture import TELEFLM_TABLE1, DomainTarget, MixConfig, copies, plan_mixture
from tests.conftest import ROOT


def test_table1_shares_sum_to_100_and_config_matches():
    assert abs(sum(TELEFLM_TABLE1.values()) - 100.0) < 0.02
    assert load_config(MixConfig, ROOT / "configs" / "mix.yaml") == MixConfig()


def test_epochs_follow_targets_and_the_binding_domain_hits_max_epochs():
    cfg = MixConfig(domains={"WebText": DomainTarget(share=75, max_epochs=1), "Code": DomainTarget(share=25, max_epochs=4)})
    plans, warnings = plan_mixture(cfg, {"WebText": (100, 750_000), "Code": (10, 50_000)})
    ep = {p.domain: p.epochs for p in plans}
    # WebText alone allows 1M bytes in total; Code would need 5 epochs for its 25% of that, so Code binds:
    # total = 50k * 4 / 0.25 = 800k, WebText then gets 0.8 epochs.
    assert ep["Code"] == pytest.approx(4.0) and ep["WebText"] == pytest.approx(0.8)
    assert warnings == []


def test_missing_domains_are_renormalised_and_reported():
    cfg = MixConfig(domains={"WebText": DomainTarget(share=50), "Book": DomainTarget(share=50)})
    plans, warnings = plan_mixture(cfg, {"WebText": (10, 1000), "Code": (5, 500)})
    ep = {p.domain: p.epochs for p in plans}
    assert ep["Code"] == 0.0 and ep["WebText"] == pytest.approx(4.0)
    assert any("Book" in w for w in warnings) and any("Code" in w for w in warnings)


def test_fixed_total_beyond_max_epochs_is_an_error():
    cfg = MixConfig(total=1e9, domains={"WebText": DomainTarget(share=1, max_epochs=2)})
    with pytest.raises(ValueError, match="max_epochs"):
        plan_mixture(cfg, {"WebText": (1, 1000)})


def test_copies_are_deterministic_and_unbiased():
    ids = [f"doc{i}" for i in range(20000)]
    for epochs in (0.3, 1.0, 2.6):
        draws = [copies(epochs, 7, i) for i in ids]
        assert draws == [copies(epochs, 7, i) for i in ids]
        assert sum(draws) / len(ids) == pytest.approx(epochs, abs=0.02)
        assert set(draws) <= {int(epochs), int(epochs) + 1}
    assert [copies(0.5, 1, i) for i in ids[:200]] != [copies(0.5, 2, i) for i in ids[:200]]


def test_config_validation(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("domains:\n  WebTxt: {share: 1}\n")
    with pytest.raises(ConfigError, match="WebTxt"):
        load_config(MixConfig, bad)
    bad.write_text("domains:\n  WebText: {share: 1, max_epochs: 0}\n")
    with pytest.raises(ConfigError, match="max_epochs"):
        load_config(MixConfig, bad)


@pytest.mark.spark
def test_mix_stage_realises_the_target_proportions(spark, tmp_path):
    from jobs import mix

    rng = random.Random(0)
    docs = []
    for domain, n, size in (("WebText", 600, 400), ("Code", 40, 500), ("Book", 20, 2000)):
        for i in range(n):
            docs.append(Document(id=f"{domain}-{i}", domain=domain, text="x" * rng.randint(size // 2, size * 3 // 2)))
    inp = tmp_path / "in"
    inp.mkdir()
    pq.write_table(pa.Table.from_pylist([d.to_row() for d in docs], schema=DOCUMENT_SCHEMA), inp / "part-0.parquet")
    (inp / "_SUCCESS").write_text("")
    conf = tmp_path / "mix.yaml"
    conf.write_text("domains:\n  WebText: {share: 70}\n  Code: {share: 20, max_epochs: 8}\n  Book: {share: 10, max_epochs: 2}\n")
    out = tmp_path / "out"
    mix.run(["--input", str(inp), "--output", str(out), "--config", str(conf)])
    manifest = json.loads((out / "_manifest.json").read_text())
    by = {d["domain"]: d for d in manifest["domains"]}
    for domain, target in (("WebText", 0.7), ("Code", 0.2), ("Book", 0.1)):
        assert by[domain]["realized_share"] == pytest.approx(target, abs=0.03), by[domain]
    assert by["Book"]["epochs"] == pytest.approx(2.0)  # Book binds: 2 epochs for its 10%
    rows = [r for f in sorted(Path(out).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == sum(d["documents_out"] for d in manifest["domains"])
    code_ids = [r["id"] for r in rows if r["domain"] == "Code"]
    assert len(code_ids) > len(set(code_ids))  # up-sampled: repeated documents
    # the same seed gives the same mixture
    out2 = tmp_path / "out2"
    mix.run(["--input", str(inp), "--output", str(out2), "--config", str(conf)])
    rows2 = [r for f in sorted(Path(out2).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    key = lambda r: (r["id"], dict(r["annotations"]).get("mix.copy"))  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, rows2))
    assert (out / "_manifest.md").exists()
