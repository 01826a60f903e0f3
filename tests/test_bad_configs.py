"""A bad config stops every command line before any work with one line naming the key: a few fuzzed configs
run as subprocesses (``chaos.bad_configs`` runs many more), and the helpers that make it so."""

from __future__ import annotations

import random

import pytest
import yaml

from chaos.bad_configs import CLIS, KINDS, Mutation, draw, load_base, marking_java, mutations, names, run_trial
from datapipe.config import ConfigError, load_config, load_named_config, require_existing, yaml_key
from datapipe.domains import DomainsConfig
from jobs.run_chain import StageConfigs, stage_config_models
from tests.conftest import ROOT
from train.config import load_train_config

CLI = {cli.name: cli for cli in CLIS}

# (command, mutation): a Spark stage before Spark starts, the chain before its first stage, the trainer before
# its model, the trainer's model config, the tokenizer, and a config that is not there or not YAML.
TRIALS = [
    ("jobs.clean", Mutation("wrong_type", "a string for a number", "gopher_quality.min_words",
                            set=(("gopher_quality", "min_words"), "fifty"))),
    ("jobs.clean", Mutation("unknown_key", "a nested typo", "c4.min_words_per_lin",
                            rename=(("c4", "min_words_per_line"), "min_words_per_lin"))),
    ("jobs.ingest", Mutation("wrong_type", "a union member's field", "sources.0.max_bytes", set=(("sources", 0, "max_bytes"), "big"))),
    ("jobs.ingest", Mutation("missing_file", "no data root", "root", set=(("root",), "_missing-by-chaos/data"))),
    ("jobs.quality", Mutation("missing_file", "no model directory", "score.model_dir",
                              set=(("score", "model_dir"), "_missing-by-chaos/quality_model"))),
    ("jobs.run_chain", Mutation("missing_file", "a stage config that is not there", "configs.clean",
                                set=(("configs", "clean"), "_missing-by-chaos/clean.yaml"))),
    ("train.pretrain", Mutation("missing_file", "no model config", "model", set=(("model",), "_missing-by-chaos/tiny.yaml"))),
    ("train.pretrain", Mutation("out_of_range", "probability above 1", "spikes.ema", set=(("spikes", "ema"), 1.5))),
    ("train.pretrain model", Mutation("out_of_range", "zero heads", "n_heads", set=(("n_heads",), 0))),
    ("tokenizer.train", Mutation("missing_file", "config file absent", "{config}", file="absent")),
    ("jobs.dedup_minhash", Mutation("missing_file", "YAML that does not parse", "{config}", file="unparsable")),
]


@pytest.fixture(scope="module")
def java_home(tmp_path_factory):
    return marking_java(tmp_path_factory.mktemp("jvm"))


@pytest.mark.parametrize("name, mutation", TRIALS, ids=[f"{n}: {m.what}" for n, m in TRIALS])
def test_a_fuzzed_config_is_rejected_before_any_work(name, mutation, tmp_path, java_home):
    cli = CLI[name]
    base, effective = load_base(cli, tmp_path / "out")
    trial = run_trial(cli, mutation, base, effective, tmp_path, java_home, timeout=120)
    assert trial.survived, f"{trial.failures}: {trial.message}"
    assert trial.returncode == 2 and trial.message.startswith("error: ")


def test_every_command_has_mutations_of_every_kind():
    rng = random.Random(0)
    for cli in CLIS:
        base, effective = load_base(cli, ROOT / "out" / "never-written")
        for kind in ("wrong_type", "unknown_key", "missing_file"):
            assert mutations(cli, kind, base, effective, rng), (cli.name, kind)


def test_the_draw_covers_every_command_then_every_pair():
    first = draw(len(CLIS), random.Random(3))
    assert sorted(c.name for c, _ in first) == sorted(c.name for c in CLIS)
    assert len({(c.name, k) for c, k in draw(len(CLIS) * len(KINDS), random.Random(3))}) == len(CLIS) * len(KINDS)
    assert draw(7, random.Random(3)) == draw(7, random.Random(3))


def test_a_key_is_named_as_a_setting_not_as_a_word():
    assert names("error: run.yaml: model: model config not found: x.yaml", "model")
    assert names("  sources.0.max_bytes.int: Input should be a valid integer", "sources.0.max_bytes")
    assert not names("error: model config not found: configs/model/x.yaml", "model")
    assert not names("  optimizer.lr_vector: Input should be greater than 0", "lr_vector")


# --- the helpers -------------------------------------------------------------------------------------


def test_a_union_member_is_not_reported_as_a_key(tmp_path):
    conf = tmp_path / "domains.yaml"
    conf.write_text(yaml.safe_dump({"sources": [{"name": "c", "domain": "Code", "reader": "code", "paths": ["x"], "max_bytes": "big"}]}))
    with pytest.raises(ConfigError) as exc:
        load_config(DomainsConfig, conf)
    assert "  sources.0.max_bytes: " in str(exc.value) and "sources.0.code" not in str(exc.value)


def test_yaml_key():
    data = {"a": {"b": [{"c": "x"}]}}
    assert yaml_key(("a", "b", 0, "code", "c"), data) == "a.b.0.c"  # a union member's name left out
    assert yaml_key(("a", "missing"), data) == "a.missing"  # a missing key kept
    assert yaml_key(("a", "b", 0, "c", "int"), data) == "a.b.0.c"
    assert yaml_key((), data) == "<root>"


def test_require_existing_names_the_key_and_the_file(tmp_path):
    require_existing("data", tmp_path)
    with pytest.raises(ConfigError, match=r"^run\.yaml: data: shards not found: .*nope$"):
        require_existing("data", tmp_path / "nope", "run.yaml", "shards")


def test_a_config_named_by_a_key_is_reported_under_that_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("threshold: 2\n")
    with pytest.raises(ConfigError, match=r"pipeline\.yaml: configs\.dedup_minhash: .*bad\.yaml: invalid config\n  threshold: "):
        load_named_config(stage_config_models()["dedup_minhash"], tmp_path / "bad.yaml", "configs.dedup_minhash", "pipeline.yaml")
    with pytest.raises(ConfigError, match=r"^x\.yaml: domains: config file not found: "):
        load_named_config(DomainsConfig, tmp_path / "absent.yaml", "domains", "x.yaml")


def test_the_run_config_checks_its_model_configs(tmp_path):
    run = yaml.safe_load((ROOT / "configs" / "train" / "demo.yaml").read_text())
    (tmp_path / "model.yaml").write_text("dim: 64\n")
    for key, change in (("model", {"model": str(tmp_path / "absent.yaml")}),
                        ("growth.0.model", {"growth": [{"at_step": 5, "model": str(tmp_path / "model.yaml")}]})):
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump({**run, **change}))
        with pytest.raises(ConfigError, match=rf"run\.yaml: {key}: "):
            load_train_config(path)


def test_the_chain_knows_the_model_of_every_stage_config():
    assert set(stage_config_models()) == set(StageConfigs.model_fields)
