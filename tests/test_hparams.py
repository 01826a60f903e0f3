"""The seven searched muP hyperparameters (train/hparams.py): 52B's in effect equal the report's Table 4, 1T's
the released config.json's, and what is printed is what the optimizer and the model use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from train import hparams, mup
from train.config import MODEL_CONFIG_DIR, OptimizerConfig, load_model_config
from train.model import Transformer

# Tele-FLM report (arXiv:2404.16645), Table 4, written out here rather than imported from the module under test
TABLE_4 = {"lr_vector": 1.5e-4, "lr_matrix": 1.5e-4, "lr_min": 1.5e-5, "std_vector": 4e-3, "std_matrix": 4.242e-3,
           "input_mult": 1.0, "output_mult": 3.125e-2}
# config.json of CofeAI/Tele-FLM and CofeAI/Tele-FLM-1T on Hugging Face, their muP keys
RELEASED_52B = {"use_mup": True, "input_mult": 1.0, "output_mult": 0.5, "mup_scale_factor": 16.0}
RELEASED_1T = {"use_mup": True, "input_mult": 1.0, "output_mult": 2.0, "mup_scale_factor": 80.0}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m train.hparams ARGS`` in this process: exit code, stdout, stderr."""
    capsys.readouterr()
    try:
        code = hparams.main(list(args))
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_52b_in_effect_equals_table_4(capsys):
    values = as_json(capsys, "--model", "configs/model/52b.yaml")
    assert {k: values[k] for k in TABLE_4} == TABLE_4
    assert values["width_mult"] == 16.0 and values["lr_min_matrix"] == 1.5e-5
    assert values["config_json"] == RELEASED_52B == {k: values["released"][k] for k in RELEASED_52B}


def test_52b_run_config_has_the_same_learning_rates(capsys):
    values = as_json(capsys, "--train", "configs/train/52b.yaml")
    assert values["model"] == "configs/model/52b.yaml"
    assert {k: values[k] for k in TABLE_4} == TABLE_4


def test_1t_carries_the_released_values(capsys):
    values = as_json(capsys, "--model", "configs/model/1t.yaml")
    assert values["config_json"] == RELEASED_1T == {k: values["released"][k] for k in RELEASED_1T}
    assert (values["base"]["input_mult"], values["base"]["output_mult"], values["width_mult"]) == (1.0, 2.0, 80.0)
    assert values["output_mult"] == 2.0 / 80 and values["width_mult_from"] == "mup_scale_factor"
    assert values["lr_matrix"] == pytest.approx(2.4e-3 / 80) and values["std_matrix"] == pytest.approx(1.6968e-2 / 80 ** 0.5)


def test_proxy_holds_the_base_values(capsys):
    values = as_json(capsys, "--model", "configs/model/proxy.yaml")
    assert values["width_mult"] == 1.0 and values["released"] is None
    assert {k: values[k] for k in hparams.SEARCHED} == values["base"] == {
        "lr_vector": 1.5e-4, "lr_matrix": 2.4e-3, "lr_min": 1.5e-5, "std_vector": 4e-3, "std_matrix": 1.6968e-2,
        "input_mult": 1.0, "output_mult": 0.5}


def test_text_report_marks_agreement(capsys):
    code, out, err = cli(capsys, "--model", "configs/model/52b.yaml")
    assert code == 0, err
    assert "DIFFERS" not in out and out.count(" =") >= 10  # 7 against Table 4, 3 against the release
    assert "output_mult 0.5 =" in out and "mup_scale_factor 16 =" in out
    for group in ("embedding", "readout", "norm", "matrix", "output_projection"):
        assert f"\n{group} " in out
    one_t = cli(capsys, "--model", "configs/model/1t.yaml")[1]
    assert "mup_scale_factor 80 =" in one_t and "output_mult 2 =" in one_t
    changed = hparams.render("x.yaml", load_model_config(MODEL_CONFIG_DIR / "52b.yaml").with_changes(output_mult=1.0),
                             OptimizerConfig(), "defaults")
    assert "output_mult 0.5 DIFFERS" in changed


def test_cli_help_and_errors(tmp_path):
    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "train.hparams", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    shown = command("--help")
    assert shown.returncode == 0 and "Table 4" in shown.stdout
    none = command()
    assert none.returncode == 2 and "give --model" in none.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: configs/model/52b.yaml\ndata: d\nout: o\nglobal_batch_tokens: 4096\nmax_steps: 1\n"
                   "optimizer:\n  lr: 1.0e-3\n")
    proc = command("--train", str(bad))
    assert proc.returncode == 2 and "optimizer.lr" in proc.stderr and "Traceback" not in proc.stderr


def test_printed_values_are_the_ones_the_model_and_optimizer_use():
    """Every group's LR in a real muP AdamW, and the std of every drawn weight, at a width multiplier of 4."""
    model_cfg = load_model_config(MODEL_CONFIG_DIR / "tiny.yaml").with_changes(
        dim=256, n_heads=8, ffn_dim=672, base_dim=64, std_vector=0.03, std_matrix=0.05, input_mult=2.0, output_mult=2.0)
    optimizer_cfg = OptimizerConfig(lr_vector=2e-3, lr_matrix=6e-3, lr_min=2e-4, weight_decay=0.1)
    printed = hparams.effective(model_cfg, optimizer_cfg)
    by_group = {g["group"]: g for g in printed["groups"]}
    model = Transformer(model_cfg, seed=1)
    optimizer = mup.build_optimizer(model, model_cfg, optimizer_cfg.lr_vector, optimizer_cfg.lr_matrix,
                                    weight_decay=optimizer_cfg.weight_decay)
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(by_group[group["name"]]["lr"]), group["name"]
        assert group["weight_decay"] == pytest.approx(by_group[group["name"]]["weight_decay"]), group["name"]
    assert printed["lr_matrix"] == pytest.approx(1.5e-3) and printed["lr_min_matrix"] == pytest.approx(1.5e-4)
    weights = dict(model.named_parameters())
    for name, group in (("tok_embeddings.weight", "embedding"), ("layers.0.attention.wq.weight", "matrix"),
                        ("layers.1.feed_forward.w2.weight", "output_projection")):
        assert weights[name].std().item() == pytest.approx(by_group[group]["init_std"], rel=0.05), name
    assert (model.input_mult, model.logit_scale) == (printed["input_mult"], printed["output_mult"]) == (2.0, 0.5)
