"""The sample stage on Spark: a bounded, uniform, seeded sample in input order with its population
recorded; the tokenizer takes from it exactly what it takes from the whole input."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from datapipe.heldout import sample_draw
from datapipe.sample import read_sample_record
from jobs import sample
from tests.test_tokenizer import doc, sampled_ids, write_config, write_stage
from tokenizer.config import TokenizerConfig
from tokenizer.sample import SampleError, TrainingSample

pytestmark = pytest.mark.spark

SAMPLE = {"max_bytes_per_group": 60_000, "group_by": "domain", "seed": 0, "heldout_fraction": 0.05, "heldout_seed": 0}


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample")
    rng = random.Random(0)
    web = [doc(i, "WebText", size=100 + rng.randrange(200)) for i in range(3000)]  # ~600 KB: sampled
    code = [doc(10_000 + i, "Code", "python", size=100) for i in range(200)]  # 20 KB: whole
    copies = [doc(i, "WebText", size=100, **{"mix.copy": 1.0}) for i in range(0, 3000, 3)]
    a = write_stage(tmp / "a", web[:1500] + copies, files=3)
    b = write_stage(tmp / "b", web[1500:] + code, files=2)
    out = tmp / "sample"
    stats = sample.run(["--input", str(a), str(b), "--output", str(out), "--config", str(write_config(tmp / "s.json", **SAMPLE))])
    return tmp, [a, b], out, stats, web, code


def _rows(out) -> list[dict]:
    return [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_sample_is_bounded_seeded_and_in_input_order(corpus):
    _, inputs, out, stats, web, code = corpus
    record = read_sample_record(str(out))
    groups = record["groups"]
    rows = _rows(out)
    by_domain = {d: [r for r in rows if r["domain"] == d] for d in ("WebText", "Code")}
    assert groups["Code"]["rate"] == 1.0 and sorted(r["id"] for r in by_domain["Code"]) == sorted(d.id for d in code)
    rate = groups["WebText"]["rate"]
    assert 0.05 < rate < 0.2 and rate == pytest.approx(SAMPLE["max_bytes_per_group"] / groups["WebText"]["bytes"])
    want = {d.id for d in web if sample_draw(d.id, 0) < rate} | {d.id for d in code}
    assert len(rows) == len(want) and {r["id"] for r in rows} == want  # copies never, held-out at the same rate
    # input order: the inputs as given, each file by file, row by row
    input_order = [r["id"] for p in inputs for f in sorted(p.glob("*.parquet")) for r in pq.read_table(f).to_pylist()
                   if r["id"] in want and not dict(r["annotations"] or []).get("mix.copy")]
    assert [r["id"] for r in rows] == input_order
    assert groups["WebText"]["docs"] + groups["WebText"]["heldout_docs"] == len(web)
    assert stats["counters"]["docs_out"] == len(rows) and stats["sample"]["groups"] == groups


def test_the_tokenizer_takes_the_same_documents_from_the_sample(corpus):
    tmp, inputs, out, _, _, _ = corpus
    config = TokenizerConfig(sample_bytes=40_000, heldout_fraction=0.05, heldout_bytes_per_category=3000, show_progress=False)
    weights = {"WebText": 3, "Code": 1}
    whole = TrainingSample([str(p) for p in inputs], weights, config)
    drawn = TrainingSample([str(out)], weights, config)
    assert sampled_ids(drawn) == sampled_ids(whole)  # the same documents, in the same order
    assert [(r["domain"], r["available_docs"], r["available_bytes"], r["docs"]) for r in drawn.domain_rows()] == \
        [(r["domain"], r["available_docs"], r["available_bytes"], r["docs"]) for r in whole.domain_rows()]
    with pytest.raises(SampleError, match="too little of WebText"):
        TrainingSample([str(out)], weights, config.model_copy(update={"sample_bytes": 200_000})).plan()
    with pytest.raises(SampleError, match="sampled with"):
        TrainingSample([str(out)], weights, config.model_copy(update={"seed": 3})).plan()
    with pytest.raises(SampleError, match="one kind"):
        TrainingSample([str(out), str(inputs[0])], weights, config).plan()
    assert json.loads((out / "_sample.json").read_text())["config"]["seed"] == 0


def test_the_tokenizer_sample_draws_with_the_tokenizers_own_settings(tmp_path):
    from argparse import Namespace

    from datapipe.sample import SampleConfig
    from jobs.runner import StageError

    tok = write_config(tmp_path / "tok.json", sample_bytes=40_000, seed=5, heldout_fraction=0.4, heldout_seed=2)
    drawn = sample.for_tokenizer(Namespace(tokenizer_config=str(tok)), SampleConfig(max_bytes_per_group=160_000, group_by="domain_lang"))
    assert (drawn.seed, drawn.heldout_fraction, drawn.heldout_seed, drawn.group_by) == (5, 0.4, 2, "domain")
    with pytest.raises(StageError, match="below the tokenizer's sample_bytes"):
        sample.for_tokenizer(Namespace(tokenizer_config=str(tok)), SampleConfig(max_bytes_per_group=1_000))
