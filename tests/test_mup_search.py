"""The muP search and transfer tools: sweep files, run selection, transfer to a target, the transfer verdict,
and a real sweep of trainer processes (one stopped on divergence, all read back on a second call)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from datapipe.config import ConfigError, load_config
from tests.test_pretrain import write_shards
from train import hparams
from train.config import ModelConfig, OptimizerConfig
from train.mup_search import SearchConfig, Selection, at_the_edge, choose, specs_for, transfer
from train.mup_transfer import TransferConfig, analyse, at_width
from train.sweep import Divergence, RunResult, RunSpec, SweepResources, run_sweep, with_values

PROXY = {"model": "configs/model/tiny.yaml", "train": "configs/train/demo.yaml"}


def write(tmp_path, data: dict, name: str = "sweep.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def result(name: str, loss: list[float], grad: list[float] | None = None, status: str = "finished", **params) -> RunResult:
    spec = RunSpec(name, params, {}, {})
    return RunResult(spec, status, "", list(range(1, len(loss) + 1)), loss, grad or [1.0] * len(loss), 1.0)


# --- sweep files -----------------------------------------------------------------------------------


def test_a_sweep_file_gives_exactly_one_kind_of_run(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of combinations, grid, random"):
        load_config(SearchConfig, write(tmp_path, {"proxy": PROXY}))
    with pytest.raises(ConfigError, match="exactly one"):
        load_config(SearchConfig, write(tmp_path, {"proxy": PROXY, "grid": {"lr_vector": [1e-3]},
                                                   "combinations": [{"lr_vector": 1e-3}]}))
    with pytest.raises(ConfigError, match="grid.lr"):
        load_config(SearchConfig, write(tmp_path, {"proxy": PROXY, "grid": {"lr": [1e-3]}}))


def test_grid_random_and_fixed_values(tmp_path):
    grid = load_config(SearchConfig, write(tmp_path, {"proxy": PROXY, "fixed": {"input_mult": 2.0},
                                                      "grid": {"lr_vector": [1e-3, 2e-3], "output_mult": [0.5, 1, 2]}}))
    points = grid.points()
    assert len(points) == 6 and all(p["input_mult"] == 2.0 for p in points)
    assert {(p["lr_vector"], p["output_mult"]) for p in points} == {(a, b) for a in (1e-3, 2e-3) for b in (0.5, 1, 2)}
    spec = {"proxy": PROXY, "random": {"samples": 200, "seed": 1, "ranges": {"lr_matrix": {"low": 1e-4, "high": 1e-2}}}}
    a, b = (load_config(SearchConfig, write(tmp_path, spec)).points() for _ in range(2))
    values = np.array([p["lr_matrix"] for p in a])
    assert a == b and values.min() >= 1e-4 and values.max() <= 1e-2
    assert 0.3 < np.mean(np.log10(values) < -3) < 0.7  # log-uniform: half the draws below the geometric middle


def test_values_go_where_the_trainer_reads_them(tmp_path):
    model, train = with_values({"lr_matrix": 1e-2, "std_matrix": 0.03, "output_mult": 2.0}, {"dim": 64}, {"optimizer": {"lr_vector": 1e-3}})
    assert model == {"dim": 64, "std_matrix": 0.03, "output_mult": 2.0}
    assert train == {"optimizer": {"lr_vector": 1e-3, "lr_matrix": 1e-2}}
    cfg = load_config(SearchConfig, write(tmp_path, {"proxy": PROXY, "combinations": [{"lr_vector": 2e-3}]}))
    (spec,) = specs_for(cfg.points(), cfg.proxy)
    assert spec.train["optimizer"]["lr_vector"] == 2e-3 and spec.model["dim"] == 128
    spec.validate()


def test_an_invalid_run_is_refused_before_anything_runs(tmp_path):
    spec = RunSpec("bad", {}, {**yaml.safe_load(open("configs/model/tiny.yaml")), "std_matrix": -1.0},
                   yaml.safe_load(open("configs/train/demo.yaml")))
    with pytest.raises(ConfigError, match="run bad: invalid model config"):
        run_sweep([spec], tmp_path, SweepResources(), Divergence())
    missing = RunSpec("nodata", {}, yaml.safe_load(open("configs/model/tiny.yaml")),
                      {**yaml.safe_load(open("configs/train/demo.yaml")), "data": str(tmp_path / "none")})
    with pytest.raises(ConfigError, match="no token shards"):
        run_sweep([missing], tmp_path, SweepResources(), Divergence())


# --- selection and transfer ------------------------------------------------------------------------


def test_selection_excludes_diverged_rising_and_noisy_runs_and_takes_the_lowest_loss():
    steady = [1.0 / (1 + 0.05 * i) for i in range(40)]
    rising = [0.5 * 1.08 ** i for i in range(40)]  # a steadily rising gradient norm predicts divergence
    runs = [
        result("diverged", [5 - 0.1 * i for i in range(10)], status="diverged"),
        result("rising", [4 - 0.09 * i for i in range(40)], rising),
        result("noisy", [3.0 + (0.5 if i % 2 else 0) - 0.01 * i for i in range(40)], steady),
        result("good", [5 - 0.08 * i for i in range(40)], steady),
        result("slower", [5 - 0.06 * i for i in range(40)], steady),
    ]
    rows, chosen = choose(runs, Selection())
    assert [r["verdict"] for r in rows] == ["diverged", "rising gradient norm", "noisy loss", "chosen", "ok"]
    assert chosen == 3 and rows[3]["decrease_per_step"] > rows[4]["decrease_per_step"]
    assert choose(runs[:3], Selection())[1] is None


def test_a_tie_goes_to_the_steadier_gradient_norm():
    loss = [5 - 0.08 * i for i in range(40)]
    drifting = [1.0 + 0.01 * i + 0.002 * (i % 3) for i in range(40)]
    flat = [1.0 + 0.002 * ((7 * i) % 5) for i in range(40)]
    rows, chosen = choose([result("drifting", loss, drifting), result("flat", [x * 1.001 for x in loss], flat)], Selection())
    assert chosen == 1


def test_a_choice_at_the_edge_of_the_values_tried_is_pointed_out():
    points = [{"lr_vector": lr, "std_vector": 4e-3, "output_mult": m} for lr, m in ((1e-3, 0.5), (3e-3, 1.0), (1e-2, 2.0))]
    assert at_the_edge(points[0], points) == ["lr_vector", "output_mult"]  # std_vector is not varied
    assert at_the_edge(points[1], points) == []


def test_transfer_copies_base_width_values_and_muP_scales_them_at_the_target():
    proxy = {**yaml.safe_load(open("configs/model/proxy.yaml")), "std_matrix": 0.02, "output_mult": 1.0}
    train = {"optimizer": {"lr_vector": 1e-3, "lr_matrix": 4e-3, "lr_min": 1e-5}}
    derived = transfer(RunSpec("x", {}, proxy, train), yaml.safe_load(open("configs/model/52b.yaml")))
    target = ModelConfig.model_validate(derived.model)
    assert target.dim == 8192 and target.base_dim == 512 and target.width_mult == 16
    assert derived.optimizer == {"lr_vector": 1e-3, "lr_matrix": 4e-3, "lr_min": 1e-5}
    effective = hparams.effective(target, OptimizerConfig.model_validate(train["optimizer"]))
    assert math.isclose(effective["lr_matrix"], 4e-3 / 16) and math.isclose(effective["std_matrix"], 0.02 / 4)
    assert math.isclose(effective["output_mult"], 1.0 / 16) and effective["lr_vector"] == 1e-3
    assert "| lr_matrix | 0.004 | 0.004 | 0.00025 |" in derived.table
    one_t = transfer(RunSpec("x", {}, proxy, train), yaml.safe_load(open("configs/model/1t.yaml")))
    assert ModelConfig.model_validate(one_t.model).width_mult == 80  # the released multiplier stays


def test_models_at_each_width_keep_head_size_and_ffn_ratio():
    base = yaml.safe_load(open("configs/model/tiny.yaml"))
    for width in (64, 128, 256):
        for p in ("mup", "sp"):
            cfg = ModelConfig.model_validate(at_width(base, width, 64, p))
            assert cfg.head_dim == base["head_dim"] and cfg.n_heads * cfg.head_dim == width
            assert cfg.ffn_dim == round(base["ffn_dim"] / base["dim"] * width)
            assert cfg.width_mult == (width / 64 if p == "mup" else 1.0)


def transfer_results(cfg: TransferConfig, loss) -> list[RunResult]:
    out = []
    for p in cfg.parametrisations:
        for w in cfg.widths:
            for lr in cfg.learning_rates:
                value = loss(p, w, lr)
                spec = RunSpec(f"{p}{w}{lr}", {"lr": lr}, {}, {}, {"parametrisation": p, "width": w})
                out.append(RunResult(spec, "finished" if value is not None else "diverged", "", [1, 2, 3],
                                     [value or 9.0] * 3, [1.0] * 3, 1.0))
    return out


def test_transfer_verdict(tmp_path):
    cfg = load_config(TransferConfig, write(tmp_path, {"proxy": PROXY, "widths": [64, 128, 256], "base_width": 64,
                                                       "learning_rates": [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]}))
    lrs = cfg.learning_rates

    def bowl(best_index):
        return lambda p, w, lr: 3.0 - 0.1 * math.log2(w) + 0.05 * (lrs.index(lr) - best_index(p, w)) ** 2

    held = analyse(cfg, transfer_results(cfg, bowl(lambda p, w: 2 if p == "mup" else {64: 3, 128: 2, 256: 1}[w])))
    assert held["mup"]["problems"] == [] and held["mup"]["shift"] == {64: 0, 128: 0, 256: 0}
    assert held["sp"]["shift"] == {64: 0, 128: -1, 256: -2}
    drifted = analyse(cfg, transfer_results(cfg, bowl(lambda p, w: {64: 0, 128: 1, 256: 3}[w])))
    assert "moves by up to 3 grid steps" in drifted["mup"]["problems"][0]
    narrower_better = analyse(cfg, transfer_results(cfg, lambda p, w, lr: 3.0 + 0.1 * math.log2(w) + abs(lrs.index(lr) - 2)))
    assert any("wider model is not better" in p for p in narrower_better["mup"]["problems"])
    missing = analyse(cfg, transfer_results(cfg, lambda p, w, lr: None if w == 256 else 3.0))
    assert "a width has no finished run" in missing["mup"]["problems"]
    with pytest.raises(ConfigError, match="base_width"):
        load_config(TransferConfig, write(tmp_path, {"proxy": PROXY, "widths": [64, 128, 256], "base_width": 32,
                                                     "learning_rates": lrs}))


# --- a real sweep ----------------------------------------------------------------------------------


def test_a_sweep_runs_trainers_in_parallel_stops_a_diverging_one_and_reuses_finished_runs(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    write_shards(shards)
    model = yaml.safe_load(open("configs/model/tiny.yaml"))
    train = {"model": "m.yaml", "data": str(shards), "out": "o", "seq_len": 32, "micro_batch_size": 4,
             "global_batch_tokens": 128, "max_steps": 25, "eval_interval": None, "eval_tokens": 256,
             "checkpoint_interval": 25, "keep_checkpoints": 1, "spikes": {"factor": 1000.0},
             "optimizer": {"lr_vector": 3e-3, "lr_matrix": 3e-3, "lr_min": 3e-4, "warmup_steps": 2}}
    specs = []
    for name, lr in (("good", 3e-3), ("huge", 30.0)):
        m, t = with_values({"lr_vector": lr, "lr_matrix": lr}, model, train)
        specs.append(RunSpec(name, {"lr": lr}, m, t))
    resources, divergence = SweepResources(parallel=2, threads=1), Divergence(loss_factor=1.2, grace_steps=3)
    good, huge = run_sweep(specs, tmp_path / "runs", resources, divergence)
    assert good.status == "finished" and good.steps[-1] == 25 and good.loss[-1] < good.loss[0]
    assert len(good.grad_norm) == len(good.loss) == 25
    assert huge.status == "diverged" and huge.steps[-1] < 25, (huge.status, huge.reason, huge.steps[-1:])
    assert (tmp_path / "runs" / "good" / "train.yaml").exists() and (tmp_path / "runs" / "huge" / "result.json").exists()
    again = run_sweep(specs, tmp_path / "runs", resources, divergence)
    assert [r.loss for r in again] == [good.loss, huge.loss] and [r.seconds for r in again] == [good.seconds, huge.seconds]
