"""Initialisation by shard (train/parallelize.py, train/mup.py) and per-rank random generators in checkpoints
(train/checkpoint.py), on CPU with gloo in 4 processes.

At DP 2 x TP 2 (FSDP over TP, zero1), DP 4 (FSDP), TP 4 with sequence parallelism, TP 2 x PP 2, and DDP
over TP, each rank draws only the blocks of the weights that its shards overlap (a quarter of the model
or so, never the whole), and the weights, gathered, are exactly those of ``Transformer(config, seed)`` in
one process. Each rank saves its own generator states and gets them back on a resume at the same number of
ranks; a resume at another number keeps the generators as they are.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.tensor import DTensor

from tests.test_parallel import launch
from train import checkpoint as ckpt
from train import mup, parallelize
from train.config import ModelConfig, TrainConfig
from train.model import Transformer

WORLD = 4
SEED = 11
MODEL = {"dim": 256, "n_layers": 2, "n_heads": 4, "head_dim": 64, "ffn_dim": 640, "vocab_size": 1024,
         "max_seq_len": 64, "use_mup": True, "base_dim": 128}
LAYOUTS = {
    "dp2_tp2": {"dp": 2, "tp": 2},
    "dp4": {"dp": 4},
    "tp4_sp": {"tp": 4, "sequence_parallel": True},
    "tp2_pp2": {"tp": 2, "pp": 2},
    "dp2_tp2_ddp": {"dp": 2, "tp": 2, "data_parallel": "ddp"},
}
RNG_LAYOUT = "dp2_tp2"


def run_config(parallel: dict, out) -> TrainConfig:
    return TrainConfig.model_validate({"model": "unused.yaml", "data": "unused", "out": str(out), "seq_len": 32,
                                       "global_batch_tokens": 32 * 4, "max_steps": 1, "seed": SEED, "parallel": parallel})


def drawable_numel(name: str, tensor: torch.Tensor) -> int:
    """Values of a parameter (or of its local shard) that are drawn: all but the norm gains'."""
    local = tensor.to_local() if isinstance(tensor, DTensor) else tensor
    return 0 if mup.role_of(name) is mup.Role.NORM else local.numel()


def _worker(rank: int, world: int, port: int, jobs: list[str], queue) -> None:
    """Build every layout in ``jobs[0]`` (the run directory) and report its weights and draw counts."""
    (out,) = jobs
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model_cfg = ModelConfig.model_validate(MODEL)
    device = torch.device("cpu")
    results = {}
    for name, parallel in LAYOUTS.items():
        run = run_config(parallel, out)
        mesh = parallelize.init_mesh(run.parallel, "cpu")
        parts = parallelize.parallelize(model_cfg, run, mesh, device, None)
        built = {k: v.numpy().copy() for part in parts for k, v in
                 get_model_state_dict(part, options=StateDictOptions(full_state_dict=True)).items()}
        with torch.no_grad():
            for part in parts:
                for p in part.parameters():
                    (p.to_local() if isinstance(p, DTensor) else p).fill_(float("nan"))
        drawn = parallelize.init_like_one_process(parts, model_cfg, SEED, device)  # again, counting what it draws
        redrawn = {k: v.numpy().copy() for part in parts for k, v in
                   get_model_state_dict(part, options=StateDictOptions(full_state_dict=True)).items()}
        local = sum(drawable_numel(n, p) for part in parts for n, p in part.named_parameters())
        results[name] = {"weights": built, "redrawn": redrawn, "drawn": drawn, "local": local}
        if name == RNG_LAYOUT:
            results["rng"] = save_and_restore_rng(rank, parts, model_cfg, out)
    queue.put((rank, [results]))
    dist.destroy_process_group()


def save_and_restore_rng(rank: int, parts, model_cfg: ModelConfig, out: str) -> dict:
    """Generators in a different state on every rank; a checkpoint; what each draws next, before and after
    scrambling them and loading the checkpoint."""
    optimizers = [mup.build_optimizer(part, model_cfg, 1e-3, 1e-3) for part in parts]
    torch.manual_seed(100 + rank)
    torch.rand(rank + 1)
    path = ckpt.save_checkpoint(f"{out}/checkpoints", 1, parts, optimizers, {"config": {"model": model_cfg.model_dump()}})
    expected = torch.rand(4)
    torch.manual_seed(0)
    restored = ckpt.load_checkpoint(path, ckpt.verify(path), parts, optimizers)
    return {"path": str(path), "expected": expected, "after_load": torch.rand(4), "restored": restored}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> dict[int, dict]:
    out = tmp_path_factory.mktemp("sharded_init")
    return launch(WORLD, [str(out)], worker=_worker)[0]


@pytest.fixture(scope="module")
def one_process() -> tuple[dict, int]:
    config = ModelConfig.model_validate(MODEL)
    model = Transformer(config, seed=SEED)
    whole = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    drawn = mup.init_parameters(model.named_parameters(), config, SEED)
    return whole, drawn


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sharded_init_equals_one_process_exactly(ranks, one_process, layout):
    whole, _ = one_process
    for key in ("weights", "redrawn"):
        gathered = {}
        for r in ranks.values():
            gathered.update(r[layout][key])
        assert gathered.keys() == whole.keys()
        for name, value in whole.items():
            assert (gathered[name] == value).all(), (layout, key, name)


@pytest.mark.parametrize("layout", [name for name, p in LAYOUTS.items() if p.get("data_parallel") != "ddp"])
def test_a_rank_draws_its_shard_not_the_model(ranks, one_process, layout):
    """One process draws every value once; a rank of a sharded layout draws its own shards and the rest of
    the blocks they cut (a few per weight), a fraction of the model."""
    _, total = one_process
    assert total == sum(v.size for k, v in one_process[0].items() if mup.role_of(k) is not mup.Role.NORM)
    for rank, r in sorted(ranks.items()):
        drawn, local = r[layout]["drawn"], r[layout]["local"]
        print(f"{layout} rank {rank}: drew {drawn:,} values for a shard of {local:,} ({drawn / local:.2f}x), "
              f"{drawn / total:.1%} of the model's {total:,}")
        assert local <= drawn <= 1.25 * local
        assert drawn < 0.45 * total


def test_ddp_ranks_draw_their_whole_replicas(ranks, one_process):
    _, total = one_process
    for r in ranks.values():  # TP 2 under DDP: each rank holds half of the matrices, all of nothing else
        assert r["dp2_tp2_ddp"]["local"] <= r["dp2_tp2_ddp"]["drawn"] < 0.7 * total


def test_each_rank_restores_its_own_generators(ranks):
    states = [r["rng"] for _, r in sorted(ranks.items())]
    assert all(s["restored"] for s in states)
    for s in states:
        assert torch.equal(s["after_load"], s["expected"])
    assert len({tuple(s["expected"].tolist()) for s in states}) == WORLD  # four different states, each its own
    meta = ckpt.verify(states[0]["path"])
    assert {ckpt.rng_file(rank) for rank in range(WORLD)} <= set(meta["files"])


def test_a_resume_at_another_number_of_ranks_keeps_the_generators(ranks):
    """The 4-rank checkpoint loaded in one process: the weights load, the generators stay as they were."""
    config = ModelConfig.model_validate(MODEL)
    model = Transformer(config, seed=0)
    optimizer = mup.build_optimizer(model, config, 1e-3, 1e-3)
    path = ranks[0]["rng"]["path"]
    torch.manual_seed(5)
    before = torch.get_rng_state()
    assert ckpt.load_checkpoint(path, ckpt.verify(path), [model], [optimizer]) is False
    assert torch.equal(torch.get_rng_state(), before)
    reference = Transformer(config, seed=SEED)
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
