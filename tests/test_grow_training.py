"""MSG growth in the training loop and offline (``train.grow``), on the tiny 4-layer model of test_parallel
grown at step 4 to 6 layers x 96 (6 heads, FFN 252), masks ramping over 4 steps: function-preserving at the
growth step (held-out bits per byte equal before and after), folded into a plain model after the ramp, a
bit-exact resume from mid-ramp, the offline tool equal to the loop, the sharded growth equal to the
in-memory operators, and parallel layouts (gloo): grown at TP 2 and continued at PP 2, a one-process
checkpoint grown at DP 2, a mid-ramp checkpoint resumed at TP 2 and in one process, all on the one-process
curve."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from datapipe.config import ConfigError
from tests.conftest import ROOT
from tests.test_parallel import (
    MODEL,
    STEPS,
    TOLERANCE,
    launch,
    max_weight_difference,
    merged_weights,
    summary,
    write_run,
)
from tests.test_pretrain import write_shards
from train import checkpoint as ckpt
from train import mup
from train.config import GrowthStage, ModelConfig, load_train_config
from train.evaluate import EvaluationError, load_model
from train.export_hf import export
from train.grow import (
    Growth,
    MaskRamp,
    build_grown_optimizer,
    grow,
    grow_from_checkpoint,
    grow_optimizer,
    plan_growth,
    set_masks,
)
from train.model import RMSNorm, Transformer
from train.pretrain import Trainer, check_plan

GROW_AT, RAMP = 4, 4
TARGET = {**MODEL, "dim": 96, "n_heads": 6, "ffn_dim": 252, "n_layers": 6}
# test_parallel's optimizer with the cosine's end fixed, so that a run stopped early has the same schedule
OPTIMIZER = {"lr_vector": 1e-3, "lr_matrix": 1e-3, "lr_min": 1e-4, "warmup_steps": 2, "weight_decay": 0.1, "grad_clip": 0.2,
             "decay_steps": STEPS}


def write_growth_run(tmp, shards, name, parallel=None, stage_parallel=None, **run) -> str:
    (tmp / "target.yaml").write_text(yaml.safe_dump(TARGET))
    stage = {"at_step": GROW_AT, "model": str(tmp / "target.yaml"), "ramp_steps": RAMP}
    if stage_parallel is not None:
        stage["parallel"] = stage_parallel
    extra = {"parallel": parallel} if parallel else {}
    return write_run(tmp / f"{name}.yaml", shards, tmp / name, growth=[stage], checkpoint_interval=2, optimizer=OPTIMIZER,
                     **extra, **run)


def rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_shards(root)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shards):
    """One process: the growth run, straight through."""
    tmp = tmp_path_factory.mktemp("grow_one")
    trainer = Trainer(load_train_config(write_growth_run(tmp, shards, "run")), resume="none")
    return {"tmp": tmp, "dir": tmp / "run", "trainer": trainer, **summary(trainer, trainer.run())}


def test_growth_in_the_loop_preserves_the_function_and_folds(reference):
    (event,) = [r for r in rows(reference["dir"]) if "growth" in r]
    g = event["growth"]
    assert event["step"] == GROW_AT and g["parameters"] == sum(p.numel() for p in Transformer(
        ModelConfig.model_validate({**TARGET, "vocab_size": reference["trainer"].model_cfg.vocab_size})).parameters())
    for domain, before in g["bpb_before"].items():
        assert abs(g["bpb_after"][domain] - before) < 1e-5, domain
    assert len(g["distances"]) == MODEL["n_layers"] and len(g["old_layers"]) == MODEL["n_layers"]
    trainer = reference["trainer"]
    assert trainer.growth is None and trainer.model_cfg.n_layers == 6
    (model,) = trainer.parts
    assert model.embed_mask is None and all(m.active_dims is None for m in model.modules() if isinstance(m, RMSNorm))
    assert all(b.branch_mask is None and b.attention.head_mask is None and b.feed_forward.unit_mask is None
               for b in model.layers.values())
    assert model.state_dict().keys() == Transformer(trainer.model_cfg).state_dict().keys()
    # the ramp: the checkpoint of step 6 is mid-ramp, at mask 0.5; the pre-growth checkpoint of step 4 is the old model
    mid = ckpt.verify(reference["dir"] / "checkpoints" / "step-00000006")["trainer"]["growth"]
    assert Growth.from_json(mid["ramping"]).ramp.value(6) == 0.5 and mid["stages_done"] == 1
    before = ckpt.verify(reference["dir"] / "checkpoints" / f"step-{GROW_AT:08d}")["trainer"]
    assert before["config"]["model"]["n_layers"] == MODEL["n_layers"] and before["growth"]["ramping"] is None
    losses = reference["losses"]
    assert losses[-1] < losses[0] and max(losses[GROW_AT:]) < losses[0]  # no jump at the growth


def test_resume_mid_ramp_is_bit_exact(tmp_path, shards, reference):
    for stop in (GROW_AT + 1, GROW_AT + 2):  # stopped right after the growth, and mid-ramp
        Trainer(load_train_config(write_growth_run(tmp_path, shards, "run", max_steps=stop)), resume="auto").run()
    trainer = Trainer(load_train_config(write_growth_run(tmp_path, shards, "run")), resume="auto")
    assert trainer.state.step == GROW_AT + 2 and trainer.growth is not None
    trainer.run()
    resumed = {k: v.detach().numpy() for k, v in trainer.parts[0].state_dict().items()}
    assert all(np.array_equal(resumed[k], reference["weights"][k]) for k in resumed)


def test_sharded_growth_from_a_checkpoint_equals_the_in_memory_operators(reference):
    """``grow_from_checkpoint`` (what the loop and the offline tool run, each rank on its shards) gives the
    weights and AdamW state of ``grow`` + ``grow_optimizer`` on the loaded old model, exactly."""
    path = reference["dir"] / "checkpoints" / f"step-{GROW_AT:08d}"
    meta = ckpt.verify(path)
    run = load_train_config(reference["tmp"] / "run.yaml")
    old_cfg = ModelConfig.model_validate(meta["trainer"]["config"]["model"])
    old = Transformer(old_cfg)
    old_opt = mup.build_optimizer(old, old_cfg, run.optimizer.lr_vector, run.optimizer.lr_matrix)
    ckpt.load_checkpoint(path, meta, [old], [old_opt])
    target = reference["trainer"].model_cfg
    grown = grow(old, target, depth_rule="uniform", seed=run.seed)
    in_memory = grow_optimizer(old, old_opt, grown, run.optimizer)
    growth = plan_growth(old_cfg, target, MaskRamp(RAMP, GROW_AT), "uniform")
    model = Transformer(target, seed=run.seed)
    optimizer = build_grown_optimizer(model, run.optimizer)
    assert grow_from_checkpoint(path, growth, [model], [optimizer]) == len(list(old.parameters()))
    a, b = dict(grown.model.named_parameters()), dict(model.named_parameters())
    for name in a:
        assert torch.equal(a[name], b[name]), name
        sa, sb = in_memory.state[a[name]], optimizer.state[b[name]]
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name


def test_offline_growth_equals_the_loop_and_evaluates_as_the_old_model(tmp_path, shards, reference):
    """`python -m train.grow` on the pre-growth run, resumed without the growth stage, ends on the loop's
    weights bit for bit; at mask 0 the grown checkpoint's bits per byte are the old checkpoint's."""
    source = tmp_path / "old"
    config = write_run(tmp_path / "old.yaml", shards, source, checkpoint_interval=2, max_steps=GROW_AT, optimizer=OPTIMIZER)
    Trainer(load_train_config(config), resume="none").run()
    (tmp_path / "target.yaml").write_text(yaml.safe_dump(TARGET))
    grown = tmp_path / "grown"
    cmd = [sys.executable, "-m", "train.grow", "--checkpoint", str(source), "--to", str(tmp_path / "target.yaml"),
           "--output", str(grown), "--ramp-steps", str(RAMP)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "masks at 0" in proc.stdout
    bpb = {}
    for name, path in (("old", source), ("grown", grown)):
        out = tmp_path / f"eval_{name}"
        proc = subprocess.run([sys.executable, "-m", "train.evaluate", "--checkpoint", str(path), "--data", str(shards),
                               "--output", str(out)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        bpb[name] = json.loads((out / "bpb.json").read_text())["checkpoints"][0]["domains"]
    for domain, r in bpb["old"].items():
        assert abs(bpb["grown"][domain]["bpb"] - r["bpb"]) < 1e-5, domain
    # resumed with the run config (its own growth stage dropped: it happened offline)
    resumed = write_run(tmp_path / "resumed.yaml", shards, grown, checkpoint_interval=2, optimizer=OPTIMIZER)
    trainer = Trainer(load_train_config(resumed), resume="auto")
    assert trainer.state.step == GROW_AT and trainer.growth is not None and trainer.model_cfg.n_layers == 6
    trainer.run()
    weights = {k: v.detach().numpy() for k, v in trainer.parts[0].state_dict().items()}
    assert all(np.array_equal(weights[k], reference["weights"][k]) for k in weights)


def test_export_refuses_a_mid_ramp_checkpoint(tmp_path, reference):
    with pytest.raises(EvaluationError, match="growth ramp"):
        export(reference["dir"] / "checkpoints" / "step-00000006", tmp_path / "tok.json", tmp_path / "hf")


def test_mid_ramp_checkpoint_evaluates_with_its_masks(reference):
    """A checkpoint of the ramp is read into a model with the masks at the ramp's value: its logits are
    the trainer's at that step, not the unmasked model's."""
    path = reference["dir"] / "checkpoints" / "step-00000006"
    config = ModelConfig.model_validate(ckpt.verify(path)["trainer"]["config"]["model"])
    model = load_model(path, config, torch.device("cpu"))
    assert model.layers["0"].feed_forward.unit_mask is not None
    tokens = torch.randint(0, config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        masked = model(tokens)
        plain = load_model(path, config, torch.device("cpu"))
        set_masks([plain], Growth.from_json(ckpt.verify(path)["trainer"]["growth"]["ramping"]), 1.0)
        assert float((masked - plain(tokens)).abs().max()) > 1e-3


def test_growth_config_errors_name_the_key(tmp_path, shards):
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump({**MODEL, "dim": 48, "n_heads": 3}))
    config = write_run(tmp_path / "bad.yaml", shards, tmp_path / "bad",
                       growth=[{"at_step": 2, "model": str(tmp_path / "narrow.yaml")}])
    with pytest.raises(ConfigError, match=r"growth\.0\.model .*cannot shrink dim"):
        Trainer(load_train_config(config), resume="none")
    (tmp_path / "target.yaml").write_text(yaml.safe_dump({**TARGET, "n_heads": 6}))
    overlapping = [{"at_step": 2, "model": str(tmp_path / "target.yaml"), "ramp_steps": 5},
                   {"at_step": 4, "model": str(tmp_path / "target.yaml")}]
    with pytest.raises(ConfigError, match=r"growth\.1\.at_step \(4\) is before the previous growth's ramp ends"):
        load_train_config(write_run(tmp_path / "overlap.yaml", shards, tmp_path / "o", growth=overlapping))
    other_world = [{"at_step": 2, "model": str(tmp_path / "target.yaml"), "parallel": {"dp": 2}}]
    with pytest.raises(ConfigError, match=r"growth\.0\.parallel has 2 ranks, the run 1"):
        load_train_config(write_run(tmp_path / "world.yaml", shards, tmp_path / "w", growth=other_world))
    # every stage's model is checked against its layout before any work: 5 layers do not split over PP 2
    cfg = load_train_config(write_run(tmp_path / "odd.yaml", shards, tmp_path / "odd", parallel={"pp": 2, "microbatches": 4}))
    models = [ModelConfig.model_validate(MODEL), ModelConfig.model_validate({**TARGET, "n_layers": 5})]
    with pytest.raises(ConfigError, match=r"after growth\.0 \(odd\.yaml\)"):
        check_plan(models, [cfg.parallel, cfg.parallel], cfg.model_copy(update={"growth": [GrowthStage(at_step=2, model="odd.yaml")]}))


@pytest.fixture(scope="module")
def parallel_runs(tmp_path_factory, shards, reference):
    """Two processes: grown at TP 2 and continued at PP 2; the one-process pre-growth checkpoint resumed
    (and grown) at DP 2; the one-process mid-ramp checkpoint resumed at TP 2."""
    tmp = tmp_path_factory.mktemp("grow_parallel")
    checkpoints = reference["dir"] / "checkpoints"
    jobs = {
        "tp2_then_pp2": (write_growth_run(tmp, shards, "tp2_then_pp2", parallel={"tp": 2},
                                          stage_parallel={"pp": 2, "microbatches": 4}), "none"),
        "one_to_dp2": (write_growth_run(tmp, shards, "one_to_dp2", parallel={"dp": 2}), str(checkpoints / f"step-{GROW_AT:08d}")),
        "mid_ramp_to_tp2": (write_growth_run(tmp, shards, "mid_ramp_to_tp2", parallel={"tp": 2}), str(checkpoints / "step-00000006")),
    }
    return {"tmp": tmp, **dict(zip(jobs, launch(2, list(jobs.values()))))}


@pytest.mark.parametrize("name", ["tp2_then_pp2", "one_to_dp2", "mid_ramp_to_tp2"])
def test_parallel_growth_follows_the_one_process_curve(name, parallel_runs, reference):
    rank0 = parallel_runs[name][0]
    np.testing.assert_allclose(rank0["losses"], reference["losses"][-len(rank0["losses"]):], rtol=0, atol=TOLERANCE)
    assert max_weight_difference(merged_weights(parallel_runs[name]), reference["weights"]) < TOLERANCE
    for domain, bpb in reference["bpb"].items():
        assert abs(rank0["bpb"][domain] - bpb) < TOLERANCE, domain


def test_two_rank_mid_ramp_checkpoint_resumes_in_one_process(tmp_path, shards, parallel_runs, reference):
    """Written at PP 2 during the ramp (the layout after the growth), continued in one process."""
    path = parallel_runs["tmp"] / "tp2_then_pp2" / "checkpoints" / "step-00000006"
    assert ckpt.verify(path)["world_size"] == 2
    trainer = Trainer(load_train_config(write_growth_run(tmp_path, shards, "run")), resume=str(path))
    assert trainer.growth is not None
    result = summary(trainer, trainer.run())
    np.testing.assert_allclose(result["losses"], reference["losses"][-len(result["losses"]):], rtol=0, atol=TOLERANCE)
    assert max_weight_difference(result["weights"], reference["weights"]) < TOLERANCE
    assert len(reference["losses"]) == STEPS


def test_report_scale_growth_dry_run():
    """52B -> 102B -> 1T on 896 GPUs: each stage's layout (52B TP 4 PP 2 DP 112, 102B TP 8 PP 16 DP 7, 1T TP 32
    PP 28 DP 1) passes its checks, and each ramp's memory per GPU (masks, unfused norms, the grown optimizer
    state) fits in 80 GB; the grown models keep the 52B's 80,384 vocabulary rows."""
    proc = subprocess.run([sys.executable, "-m", "train.pretrain", "--config", str(ROOT / "configs/train/grow_52b_1t.yaml"),
                           "--dry-run"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("Layout of")] == [
        "Layout of configs/model/52b.yaml", "Layout of configs/model/102b.yaml", "Layout of configs/model/1t.yaml"]
    for mesh in ("(112, 2, 4)", "(7, 16, 8)", "(1, 28, 32)"):
        assert f"Mesh (dp, pp, tp) = {mesh}: 896 ranks" in text
    assert "FAIL" not in text and text.count("embedding/LM-head rows 80,384") == 3
    ramps = [line for line in text.splitlines() if line.startswith("During the growth ramp")]
    assert len(ramps) == 2 and all(line.endswith(": fits") for line in ramps)
