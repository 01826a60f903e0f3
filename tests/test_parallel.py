"""The trainer on CPU at several layouts (gloo, several processes) against one process: for a tiny fp32
model, 10 steps at DP 2 (zero1, fsdp2, ddp), TP 2 with sequence parallel, PP 2 (1F1B and interleaved),
DP 2 x TP 2, TP 2 x PP 2 and DP 2 x PP 2 give the same losses, gradient norms, final weights and
held-out bits per byte; the zero1 optimizer state of a rank is a shard; a checkpoint saved at one
layout resumes at another (DP 2 -> TP 2, DP 2 -> one process, one process -> PP 2, PP 2 -> one
process) and continues the same curve, each rank reading only its own shards (recorded by
``RecordingReader``); with 4 accumulated microbatches, zero1 all-gathers each FSDP unit once per step and
fsdp2 in every microbatch (the collectives counted in the workers); ranks started again on the store of
earlier ones (as torchrun restarts them) agree on keys of their own.

The layouts of 2 processes run in one launch (``torch.multiprocessing``), those of 4 in another; one
more run goes through ``torchrun`` and the CLI. The results are compared here, in the parent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import ClassVar

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from torch.distributed.checkpoint.planner import LoadItemType
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

from tests.test_pretrain import write_shards
from train import checkpoint as ckpt
from train.config import ModelConfig, load_train_config
from train.evaluate import load_model
from train.pretrain import Trainer

STEPS, RESUME_AT = 10, 5
TOLERANCE = 1e-5
MODEL = {"dim": 64, "n_layers": 4, "n_heads": 4, "head_dim": 16, "ffn_dim": 168, "vocab_size": 512,
         "max_seq_len": 64, "use_mup": True, "base_dim": 32, "std_vector": 0.02, "std_matrix": 0.02, "output_mult": 1.0}
BLOCK_WEIGHTS = ["attention_norm.weight", "attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
                 "attention.wo.weight", "ffn_norm.weight", "feed_forward.w1.weight", "feed_forward.w3.weight",
                 "feed_forward.w2.weight"]
LAYOUTS = {  # name: (processes, parallel section)
    "dp2": (2, {"dp": 2}),
    "dp2_fsdp2": (2, {"dp": 2, "data_parallel": "fsdp2"}),
    "dp2_ddp": (2, {"dp": 2, "data_parallel": "ddp"}),
    "tp2_sp": (2, {"tp": 2, "sequence_parallel": True}),
    "pp2_1f1b": (2, {"pp": 2, "microbatches": 4}),
    "pp2_interleaved": (2, {"pp": 2, "pp_schedule": "interleaved_1f1b", "stages_per_rank": 2, "microbatches": 4}),
    "dp2_tp2": (4, {"dp": 2, "tp": 2}),
    "tp2_pp2": (4, {"tp": 2, "pp": 2, "microbatches": 4}),
    "dp2_pp2": (4, {"dp": 2, "pp": 2, "microbatches": 2}),  # FSDP under a pipeline schedule (its REDUCE_GRAD)
}


def write_run(path, shards, out, **run) -> str:
    """A run config (and its model config) of the tiny 4-layer model: 8 samples of 32 tokens per step."""
    (path.parent / "model.yaml").write_text(yaml.safe_dump(MODEL))
    cfg = {"model": str(path.parent / "model.yaml"), "data": str(shards), "out": str(out), "seq_len": 32,
           "micro_batch_size": 2, "global_batch_tokens": 256, "max_steps": STEPS, "seed": 5,
           "optimizer": {"lr_vector": 1e-3, "lr_matrix": 1e-3, "lr_min": 1e-4, "warmup_steps": 2, "weight_decay": 0.1,
                         "grad_clip": 0.2},
           "log_interval": 1, "eval_interval": None, "eval_tokens": 256, "checkpoint_interval": RESUME_AT,
           "keep_checkpoints": None, **run}
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def summary(trainer: Trainer, history: list[dict]) -> dict:
    """What a run is compared on, as numpy (this rank's share of the weights, gathered over its mesh)."""
    weights = {}
    for part in trainer.parts:
        sd = get_model_state_dict(part, options=StateDictOptions(full_state_dict=True))
        weights.update({k: v.detach().numpy().copy() for k, v in sd.items()})
    exp_avg = [s["exp_avg"] for opt in trainer.optimizers for s in opt.state.values()]
    return {"losses": [r["loss"] for r in history], "grad_norms": [r["grad_norm"] for r in history], "weights": weights,
            "optimizer_numel": sum(local_numel(t) for t in exp_avg),
            "optimizer_unique_numel": sum(local_numel(t) / replicas(t) for t in exp_avg),
            "bpb": {d: r["bpb"] for d, r in trainer.validate().items()}}


def local_numel(t: torch.Tensor) -> int:
    return (t.to_local() if isinstance(t, DTensor) else t).numel()


def replicas(t: torch.Tensor) -> int:
    """On how many ranks of its mesh the same local tensor lives (a norm gain is replicated over TP ranks)."""
    if not isinstance(t, DTensor):
        return 1
    return int(np.prod([t.device_mesh.size(d) for d, p in enumerate(t.placements) if p.is_replicate()]))


# --- what each rank reads from a checkpoint ------------------------------------------------------------


class RecordingReader(ckpt.SafeFileSystemReader):
    """The trainer's checkpoint reader, recording every item this process's load plans read: its kind
    (a tensor slice, or a value such as a learning rate), its destination's fully-qualified name, and for
    a tensor the offsets and lengths of the slice in this rank's local shard."""

    reads: ClassVar[list[tuple[str, str, tuple[int, ...], tuple[int, ...]]]] = []

    def read_data(self, plan, planner):
        RecordingReader.reads += [(item.type.name, item.dest_index.fqn, tuple(item.dest_offsets), tuple(item.lengths))
                                  for item in plan.items]
        return super().read_data(plan, planner)


def resume_recording_reads(config: str, resume: str) -> tuple[Trainer, dict]:
    """A trainer resumed from ``resume`` through ``RecordingReader``; what it read and what it holds: the
    shape of its local shard of every tensor, and the names of its other values, as DCP names them."""
    plain_reader, RecordingReader.reads = ckpt.SafeFileSystemReader, []
    ckpt.SafeFileSystemReader = RecordingReader
    try:
        trainer = Trainer(load_train_config(config), resume=resume)
    finally:
        ckpt.SafeFileSystemReader = plain_reader
    shapes, values = {}, []
    for section, entries in ckpt.training_state(trainer.parts, trainer.optimizers).items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                shapes[f"{section}.{key}"] = tuple((value.to_local() if isinstance(value, DTensor) else value).shape)
            else:
                values.append(f"{section}.{key}")
    return trainer, {"reads": list(RecordingReader.reads), "local_shapes": shapes, "local_values": values}


def assert_reads_only_own_shards(per_rank: dict[int, dict], checkpoint_total: int) -> list[str]:
    """Every rank's load plan covers each element of its own shards exactly once (no element twice, none
    missing), requests no tensor or value it does not hold, and so reads as many elements as its local
    shards hold; returns one line of figures per rank (``checkpoint_total``: the checkpoint's elements)."""
    figures = []
    for rank, r in sorted(per_rank.items()):
        counts = {name: np.zeros(shape, dtype=np.int64) for name, shape in r["local_shapes"].items()}
        values = []
        for kind, name, offsets, lengths in r["reads"]:
            if kind == LoadItemType.BYTE_IO.name:
                values.append(name)
                continue
            assert name in counts, f"rank {rank} reads {name}, which it does not hold"
            counts[name][tuple(slice(o, o + n) for o, n in zip(offsets, lengths))] += 1
        for name, count in counts.items():
            assert (count == 1).all(), f"rank {rank}: {name} read {count.min()} to {count.max()} times per element"
        assert sorted(values) == sorted(r["local_values"]), f"rank {rank} reads other values than its own"
        read = sum(int(np.prod(lengths)) for kind, _, _, lengths in r["reads"] if kind == LoadItemType.TENSOR.name)
        local = sum(int(np.prod(shape)) for shape in r["local_shapes"].values())
        assert read == local
        figures.append(f"rank {rank}: {read:,} elements read = its local shards' {local:,} "
                       f"({read / checkpoint_total:.1%} of the checkpoint's {checkpoint_total:,})")
    return figures


def checkpoint_elements(path) -> int:
    """Elements of every tensor (model and optimizer state) in a checkpoint, from its metadata."""
    metadata = ckpt.SafeFileSystemReader(path).read_metadata()
    return sum(int(np.prod(md.size)) for md in metadata.state_dict_metadata.values() if isinstance(md, TensorStorageMetadata))


def _worker(rank: int, world: int, port: int, jobs: list[tuple[str, str]], queue) -> None:
    """Run the jobs (config, resume) in turn; a resumed job's reads are recorded."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    results = []
    for config, resume in jobs:
        if resume == "none":
            trainer, reads = Trainer(load_train_config(config), resume=resume), {}
        else:
            trainer, reads = resume_recording_reads(config, resume)
        results.append({**summary(trainer, trainer.run()), **reads})
    queue.put((rank, results))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


COLLECTIVES = {"all_gather_single": "all_gather", "all_gather_into_tensor": "all_gather",
               "reduce_scatter_single": "reduce_scatter", "reduce_scatter_tensor": "reduce_scatter"}


def _collectives_worker(rank: int, world: int, port: int, jobs: list[tuple[str, str]], queue, steps: int = 2) -> None:
    """Train ``steps`` steps of each job, counting the all-gathers and reduce-scatters this rank issues through
    ``torch.distributed`` (FSDP2's, one per FSDP unit and use) in each step."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    counts = Counter()
    for name, kind in COLLECTIVES.items():
        def counted(*args, _call=getattr(dist, name), _kind=kind, **kwargs):
            counts[_kind] += 1
            return _call(*args, **kwargs)
        setattr(dist, name, counted)
    results = []
    for config, resume in jobs:
        trainer = Trainer(load_train_config(config), resume=resume)
        per_step = []
        for _ in range(steps):
            counts.clear()
            trainer.train_step()
            per_step.append({kind: counts[kind] for kind in ("all_gather", "reduce_scatter")})
        results.append({"steps": per_step, "microbatches": trainer.n_microbatches,
                        "units": sum(isinstance(m, FSDPModule) for m in trainer.parts[0].modules())})
    queue.put((rank, results))
    dist.destroy_process_group()


def launch(world: int, jobs: list[tuple[str, str]], worker=_worker) -> list[dict[int, dict]]:
    """Run ``jobs`` (config, resume) one after the other in ``world`` processes; per job, rank -> what
    ``worker`` reports (``_worker``: a summary of the run)."""
    queue = mp.get_context("spawn").SimpleQueue()
    procs = mp.start_processes(worker, args=(world, free_port(), jobs, queue), nprocs=world, join=False,
                               start_method="spawn")
    by_rank = {}
    deadline = time.monotonic() + 600
    while len(by_rank) < world:
        if not queue.empty():
            rank, results = queue.get()
            by_rank[rank] = results
        elif procs.join(timeout=0.2) or time.monotonic() > deadline:  # raises if a worker failed
            break
    while not procs.join():
        pass
    assert len(by_rank) == world, f"only ranks {sorted(by_rank)} reported"
    return [{rank: by_rank[rank][j] for rank in by_rank} for j in range(len(jobs))]


def merged_weights(per_rank: dict[int, dict]) -> dict[str, np.ndarray]:
    weights = {}
    for summary_ in per_rank.values():
        weights.update(summary_["weights"])
    return weights


def max_weight_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_shards(root)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shards):
    """One process, the same run."""
    tmp = tmp_path_factory.mktemp("one_process")
    trainer = Trainer(load_train_config(write_run(tmp / "run.yaml", shards, tmp / "run")), resume="none")
    result = summary(trainer, trainer.run())
    return {"dir": tmp / "run", **result}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shards, reference):
    """Every layout's run, one launch per process count (the layouts' meshes one after the other in one
    process group), and two resumed runs of 2 processes: the dp2 run's checkpoint of step 5 at TP 2, and
    the one-process run's at PP 2."""
    tmp = tmp_path_factory.mktemp("layouts")
    resumed = {  # name: (layout, checkpoint of step 5)
        "dp2_to_tp2": ("tp2_sp", tmp / "dp2" / "checkpoints" / f"step-{RESUME_AT:08d}"),
        "one_to_pp2": ("pp2_1f1b", reference["dir"] / "checkpoints" / f"step-{RESUME_AT:08d}"),
    }
    out, started = {}, time.monotonic()
    for world in sorted({w for w, _ in LAYOUTS.values()}):
        names = [name for name, (w, _) in LAYOUTS.items() if w == world]
        jobs = [(write_run(tmp / f"{name}.yaml", shards, tmp / name, parallel=LAYOUTS[name][1]), "none") for name in names]
        for name, (layout, checkpoint) in resumed.items():
            if LAYOUTS[layout][0] == world:
                names.append(name)
                jobs.append((write_run(tmp / f"{name}.yaml", shards, tmp / name, parallel=LAYOUTS[layout][1]), str(checkpoint)))
        out.update(zip(names, launch(world, jobs)))
    out["dir"], out["seconds"] = tmp, time.monotonic() - started
    return out


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_matches_one_process(name, runs, reference):
    rank0 = runs[name][0]
    assert len(rank0["losses"]) == STEPS
    np.testing.assert_allclose(rank0["losses"], reference["losses"], rtol=0, atol=TOLERANCE)
    # the global norm over every shard and stage (clipping at 0.2 is active at every step)
    np.testing.assert_allclose(rank0["grad_norms"], reference["grad_norms"], rtol=0, atol=TOLERANCE)
    assert min(reference["grad_norms"]) > 0.2
    assert max_weight_difference(merged_weights(runs[name]), reference["weights"]) < TOLERANCE
    for domain, bpb in reference["bpb"].items():  # validation through the parallel model (gathered logits)
        assert abs(rank0["bpb"][domain] - bpb) < TOLERANCE, domain
    assert reference["losses"][-1] < reference["losses"][0]  # it learns: the comparison is not of noise


@pytest.mark.parametrize("name", ["dp2", "dp2_tp2"])
def test_zero1_optimizer_state_is_a_shard(name, runs, reference):
    """AdamW's exp_avg: the ranks' shards add up to the model's size (counting what is replicated over TP
    ranks once), and each rank holds about 1 / ranks of it."""
    total = sum(v.size for v in reference["weights"].values())
    shards = runs[name].values()
    assert sum(s["optimizer_unique_numel"] for s in shards) == total
    assert all(s["optimizer_numel"] < 1.05 * total / len(shards) for s in shards)


def test_zero1_gathers_the_parameters_once_per_step(tmp_path, shards):
    """DP 2, 4 microbatches of one sample per step, 5 FSDP units (4 blocks and the stage's root). zero1
    all-gathers each unit once per step (in the first forward; kept to the last backward) and reduce-scatters
    it once; fsdp2 gathers each block twice per microbatch (forward, and again for its backward) and the
    root once, and reduce-scatters every unit in every microbatch."""
    modes = ("zero1", "fsdp2")
    jobs = [(write_run(tmp_path / f"{mode}.yaml", shards, tmp_path / mode, micro_batch_size=1,
                       parallel={"dp": 2, "data_parallel": mode}), "none") for mode in modes]
    zero1, fsdp2 = launch(2, jobs, _collectives_worker)
    m, units, blocks = 4, 5, MODEL["n_layers"]
    for rank in (0, 1):
        assert zero1[rank]["microbatches"] == fsdp2[rank]["microbatches"] == m
        assert zero1[rank]["units"] == fsdp2[rank]["units"] == units
        assert zero1[rank]["steps"] == [{"all_gather": units, "reduce_scatter": units}] * 2
        assert fsdp2[rank]["steps"] == [{"all_gather": m * (units + blocks), "reduce_scatter": m * units}] * 2
    print(f"all-gathers per step with {m} microbatches: zero1 {zero1[0]['steps'][0]['all_gather']}, "
          f"fsdp2 {fsdp2[0]['steps'][0]['all_gather']}")


def test_ddp_keeps_the_whole_optimizer_state(runs, reference):
    total = sum(v.size for v in reference["weights"].values())
    assert [s["optimizer_numel"] for s in runs["dp2_ddp"].values()] == [total, total]


def assert_continues_the_curve(per_rank: dict[int, dict], reference: dict) -> None:
    np.testing.assert_allclose(per_rank[0]["losses"], reference["losses"][RESUME_AT:], rtol=0, atol=TOLERANCE)
    assert max_weight_difference(merged_weights(per_rank), reference["weights"]) < TOLERANCE


def test_dp2_checkpoint_resumes_at_tp2(runs, reference):
    """Saved as two halves of every row range (FSDP), read as column and row halves (TP): each rank
    requests only the slices of its TP shard."""
    assert_continues_the_curve(runs["dp2_to_tp2"], reference)
    path = runs["dir"] / "dp2" / "checkpoints" / f"step-{RESUME_AT:08d}"
    figures = assert_reads_only_own_shards(runs["dp2_to_tp2"], checkpoint_elements(path))
    print("DP 2 -> TP 2:", "; ".join(figures))
    for r in runs["dp2_to_tp2"].values():  # less than the whole: the matrices are split, the norm gains replicated
        assert sum(int(np.prod(s)) for s in r["local_shapes"].values()) < 0.6 * checkpoint_elements(path)


def test_dp2_checkpoint_resumes_in_one_process(tmp_path, shards, runs, reference):
    """DP 2 -> one process: the one rank reads every element once, without any process group."""
    path = runs["dir"] / "dp2" / "checkpoints" / f"step-{RESUME_AT:08d}"
    trainer, reads = resume_recording_reads(write_run(tmp_path / "run.yaml", shards, tmp_path / "run"), str(path))
    assert trainer.state.step == RESUME_AT
    assert_continues_the_curve({0: summary(trainer, trainer.run())}, reference)
    figures = assert_reads_only_own_shards({0: reads}, checkpoint_elements(path))
    print("DP 2 -> one process:", "; ".join(figures))
    assert sum(int(np.prod(s)) for s in reads["local_shapes"].values()) == checkpoint_elements(path)


def test_one_process_checkpoint_resumes_at_pp2(runs, reference):
    """One process -> PP 2: each pipeline rank requests its own stage's parameters and optimizer state, and
    nothing of the other stage's."""
    per_rank = runs["one_to_pp2"]
    assert_continues_the_curve(per_rank, reference)
    path = reference["dir"] / "checkpoints" / f"step-{RESUME_AT:08d}"
    figures = assert_reads_only_own_shards(per_rank, checkpoint_elements(path))
    print("one process -> PP 2:", "; ".join(figures))
    requested = {rank: {name for _, name, _, _ in r["reads"]} for rank, r in per_rank.items()}
    held = {rank: set(r["local_shapes"]) | set(r["local_values"]) for rank, r in per_rank.items()}
    assert not requested[0] & held[1] and not requested[1] & held[0]
    assert {n for n in requested[0] if n.startswith("model.")} == {
        "model.tok_embeddings.weight", *(f"model.layers.{i}.{w}" for i in (0, 1) for w in BLOCK_WEIGHTS)}
    assert {n for n in requested[1] if n.startswith("model.")} == {
        "model.norm.weight", "model.output.weight", *(f"model.layers.{i}.{w}" for i in (2, 3) for w in BLOCK_WEIGHTS)}


def test_pp2_checkpoint_resumes_in_one_process(tmp_path, shards, runs, reference):
    """PP 2 -> PP 1: the checkpoint loaded without any process group."""
    path = runs["dir"] / "pp2_1f1b" / "checkpoints" / f"step-{RESUME_AT:08d}"
    assert ckpt.verify(path)["world_size"] == 2
    trainer = Trainer(load_train_config(write_run(tmp_path / "run.yaml", shards, tmp_path / "run")), resume=str(path))
    assert trainer.state.step == RESUME_AT
    assert_continues_the_curve({0: summary(trainer, trainer.run())}, reference)


def test_parallel_checkpoint_is_read_for_evaluation(runs, reference):
    """TP 2 x PP 2's last checkpoint read straight into one model, as evaluation and export read it."""
    path = runs["dir"] / "tp2_pp2" / "checkpoints" / f"step-{STEPS:08d}"
    assert ckpt.verify(path)["world_size"] == 4
    model = load_model(path, ModelConfig.model_validate(ckpt.verify(path)["trainer"]["config"]["model"]), torch.device("cpu"))
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assert max_weight_difference(weights, reference["weights"]) < TOLERANCE


def test_one_process_checkpoint_resumes_under_torchrun(tmp_path, shards, reference):
    """The CLI under torchrun (as `make train NPROC=2 PP=2` runs it): one process's checkpoint of step 5,
    resumed with --resume auto at PP 2, continues the curve and writes checkpoints of 2 ranks."""
    run = tmp_path / "run"
    src = reference["dir"] / "checkpoints" / f"step-{RESUME_AT:08d}"
    shutil.copytree(src, run / "checkpoints" / src.name)
    config = write_run(tmp_path / "run.yaml", shards, run)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "train.pretrain", "--config", config, "--pp", "2", "--microbatches", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    np.testing.assert_allclose(losses, reference["losses"][RESUME_AT:], rtol=0, atol=TOLERANCE)
    assert ckpt.verify(run / "checkpoints" / f"step-{STEPS:08d}")["world_size"] == 2


def test_restarted_ranks_do_not_read_the_keys_of_earlier_ones():
    """torchrun gives ranks it starts again the store of the ranks before them, their keys still in it:
    each start agrees on a prefix of its own, whether rank 0 comes first (reading the others' stale
    hellos) or last."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    from train.parallelize import launch_prefix

    timeout = timedelta(seconds=30)
    server = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timeout)

    def start(delays: list[float]) -> list[str]:
        def rank(r: int) -> str:
            time.sleep(delays[r])
            return launch_prefix(dist.TCPStore("127.0.0.1", server.port, is_master=False, timeout=timeout), r, len(delays), timeout)

        with ThreadPoolExecutor(len(delays)) as pool:
            return list(pool.map(rank, range(len(delays))))

    starts = [start([0, 0, 0]), start([0, 0.3, 0.6]), start([0.6, 0, 0.3])]
    assert all(len(set(prefixes)) == 1 for prefixes in starts)
    assert len({prefixes[0] for prefixes in starts}) == len(starts)


def test_corrupt_distributed_checkpoint_is_skipped(runs):
    root = runs["dir"] / "dp2_fsdp2" / "checkpoints"
    newest = root / f"step-{STEPS:08d}"
    shard = next(newest.glob("__1_*.distcp"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        ckpt.verify(newest)
    assert ckpt.latest_checkpoint(root) == root / f"step-{RESUME_AT:08d}"


def test_metadata_that_names_other_code_is_refused(runs, tmp_path):
    """A crafted .metadata (a pickle that would call os.system) is refused before anything runs, read
    directly or through a load."""
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    src = runs["dir"] / "dp2_ddp" / "checkpoints" / f"step-{RESUME_AT:08d}"
    (src / ckpt.METADATA_FILE).write_bytes(pickle.dumps(Exploit()))
    reader = ckpt.SafeFileSystemReader(src)
    with pytest.raises(ckpt.CheckpointError, match="refusing"):
        reader.read_metadata()
    with pytest.raises(ckpt.CheckpointError, match="refusing"):
        ckpt.load_model_tensors(src, {"norm.weight": torch.empty(MODEL["dim"])})
    assert not (tmp_path / "pwned").exists()


def test_dry_run_prints_the_layout_and_rejects_a_bad_one(tmp_path, shards):
    config = write_run(tmp_path / "run.yaml", shards, tmp_path / "run")
    ok = subprocess.run([sys.executable, "-m", "train.pretrain", "--config", config, "--tp", "2", "--pp", "2",
                         "--dry-run"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "(1, 2, 2)" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "train.pretrain", "--config", config, "--tp", "3", "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "divisible by tp 3" in bad.stderr
