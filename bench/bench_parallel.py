"""Step time of every parallel layout against one process: what the communication costs.

    python bench/bench_parallel.py [--steps 3] [--out out/bench]

CPU (gloo): one narrow Tele-FLM (4 layers x 128, the 80k vocabulary, fp32) trained through the trainer's
own step (``train.pretrain.Trainer.train_step``: data, microbatches, clipping, muP AdamW) at one process
and at DP 2, TP 2 (sequence parallel), PP 2 (1F1B and interleaved), DP 2 x TP 2 and TP 2 x PP 2, each
layout launched with torchrun on random-token shards (``bench_train.write_random_shards``). torchrun
gives every process one thread; the single process keeps all cores, so each layout uses the same
cores and the ratio to one process is the price of splitting the step (4-process layouts run two
processes per core on a 2-core machine, which the table says).

GPU (NCCL, when torch sees CUDA): a ~1B configuration (16 layers x 2048, context 4,096, bf16 autocast) as
one process on one GPU and, when several GPUs are visible, at DP over all of them (FSDP2 zero1, TP 1,
PP 1, the same batch per GPU); MFU against the data-sheet bf16 peak of every GPU used, so that the
ratio of the two MFUs is what data parallelism costs. There is one training path (one process is the
layout of one rank), so one GPU has no second path to compare with: on a single GPU the table has the
one row. Without a GPU the table says that it was not measured.

Results: ``OUT/parallel.md`` and ``OUT/parallel.json`` (written atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_train import write_random_shards  # noqa: E402

from datapipe.io import write_files  # noqa: E402

CPU_MODEL = {"dim": 128, "n_layers": 4, "n_heads": 4, "head_dim": 32, "ffn_dim": 336, "base_dim": 128}
CPU_RUN = {"seq_len": 128, "micro_batch_size": 2, "global_batch_tokens": 8 * 128}
GPU_MODEL = {"dim": 2048, "n_layers": 16, "n_heads": 16, "head_dim": 128, "ffn_dim": 5504, "base_dim": 512}
GPU_RUN = {"seq_len": 4096, "micro_batch_size": 4, "global_batch_tokens": 4 * 4096 * 4}
CPU_LAYOUTS = [  # name, processes, parallel section
    ("one process", 1, {}),
    ("one process, 1 thread", 1, {}),
    ("DP 2 (zero1)", 2, {"dp": 2}),
    ("DP 2 (ddp)", 2, {"dp": 2, "data_parallel": "ddp"}),
    ("TP 2 + SP", 2, {"tp": 2}),
    ("PP 2, 1F1B", 2, {"pp": 2, "microbatches": 4}),
    ("PP 2, interleaved", 2, {"pp": 2, "pp_schedule": "interleaved_1f1b", "stages_per_rank": 2, "microbatches": 4}),
    ("DP 2 x TP 2", 4, {"dp": 2, "tp": 2}),
    ("TP 2 x PP 2", 4, {"tp": 2, "pp": 2, "microbatches": 4}),
]


def write_run(work: Path, name: str, model: dict, run: dict, parallel: dict, steps: int, device: str) -> Path:
    model_yaml = work / "model.yaml"
    model_yaml.write_text(yaml.safe_dump({**model, "vocab_size": 80_000, "max_seq_len": run["seq_len"], "use_mup": True}))
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "model": str(model_yaml), "data": str(work / "shards"), "out": str(work / name), **run,
        "max_steps": steps + 1, "device": device, "optimizer": {"warmup_steps": 1}, "log_interval": 1000,
        "eval_interval": None, "eval_tokens": 128, "checkpoint_interval": 10_000, "parallel": parallel,
    }))
    return path


def worker(config: str, steps: int, result: str) -> None:
    """Under torchrun: one warm-up step, then ``steps`` timed steps; rank 0 writes the timing."""
    import torch.distributed as dist

    from train.config import load_train_config
    from train.pretrain import Trainer

    trainer = Trainer(load_train_config(config), resume="none")
    trainer.train_step()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    barrier = dist.barrier if dist.is_initialized() else (lambda: None)
    sync(), barrier()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(), barrier()
    seconds = (time.perf_counter() - started) / steps
    if trainer.rank == 0:
        tps = trainer.cfg.global_batch_tokens / seconds
        Path(result).write_text(json.dumps({
            "seconds_per_step": seconds, "tokens_per_s": tps, "ranks": trainer.world_size,
            "mfu": trainer.mfu(tps), "peak_source": trainer.peak.source if trainer.peak else "no peak known for this GPU",
            "threads_per_process": torch.get_num_threads()}))
    if dist.is_initialized():
        dist.destroy_process_group()


def launch(config: Path, processes: int, steps: int, threads: int | None = None) -> dict:
    result = config.with_suffix(".result.json")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
           str(Path(__file__).resolve()), "--worker", str(config), "--steps", str(steps), "--result", str(result)]
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # torchrun gives several processes one thread each; one process keeps every core
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{config.stem} failed:\n{done.stderr[-3000:]}")
    return json.loads(result.read_text())


def cpu_table(steps: int, repeats: int, work: Path) -> list[dict]:
    """Every layout ``repeats`` times, in turn (the machine may be shared), keeping each one's fastest."""
    (work / "shards").mkdir()
    write_random_shards(work / "shards", (steps + 2) * CPU_RUN["global_batch_tokens"] + 10_000)
    best: dict[str, dict] = {}
    for repeat in range(repeats):
        for name, processes, parallel in CPU_LAYOUTS:
            slug = "".join(c if c.isalnum() else "_" for c in name)
            print(f"CPU {name} ({processes} process(es)), round {repeat + 1} of {repeats} ...", flush=True)
            threads = 1 if "1 thread" in name else None
            r = launch(write_run(work, slug, CPU_MODEL, CPU_RUN, parallel, steps, "cpu"), processes, steps, threads=threads)
            if name not in best or r["seconds_per_step"] < best[name]["seconds_per_step"]:
                best[name] = {"layout": name, "processes": processes, **r}
    rows = list(best.values())
    base = min(r["seconds_per_step"] for r in rows if r["processes"] == 1)  # the faster one-process row
    for r in rows:
        r["vs_one_process"] = r["seconds_per_step"] / base
    return rows


def gpu_table(steps: int, repeats: int, work: Path) -> list[dict]:
    gpus = torch.cuda.device_count()
    (work / "shards").mkdir()
    write_random_shards(work / "shards", (steps + 2) * GPU_RUN["global_batch_tokens"] * gpus + 10_000)
    layouts = [("one process, one GPU", 1, {})]
    if gpus > 1:
        layouts.append((f"DP {gpus} zero1, TP 1, PP 1 (NCCL)", gpus, {"dp": gpus}))
    rows = []
    for name, processes, parallel in layouts:
        print(f"GPU {name} ...", flush=True)
        run = {**GPU_RUN, "global_batch_tokens": GPU_RUN["global_batch_tokens"] * processes}
        r = launch(write_run(work, f"gpu{processes}", GPU_MODEL, run, parallel, steps, "cuda"), processes, steps)
        rows.append({"layout": name, "processes": processes, **r})
    return rows


def render(report: dict) -> str:
    lines = ["# Parallel layouts: step time against one process", "",
             f"CPU: {report['cpu_model']}; {report['cpu_cores']} cores, gloo; {report['steps']} timed steps after one "
             f"warm-up, the fastest of {report['repeats']} rounds. Every layout uses all cores (torchrun: one thread "
             "per process; one process: all threads), except the 1-thread row, one core's worth of compute; "
             "4-process layouts run more processes than there are cores. The ratio is to the faster one-process row.", "",
             "| layout | processes | threads each | s/step | tokens/s | vs one process |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in report["cpu"]:
        lines.append(f"| {r['layout']} | {r['processes']} | {r['threads_per_process']} | {r['seconds_per_step']:.3f} | "
                     f"{r['tokens_per_s']:,.0f} | {r['vs_one_process']:.2f}x |")
    lines += ["", "## GPU", ""]
    if not report["gpu"]:
        lines.append("Not measured: torch sees no GPU on this machine. The GPU table (a ~1B model in bf16: one "
                     "process on one GPU, and DP over every GPU with NCCL when there are several) runs when one is there.")
    else:
        lines += ["| layout | GPUs | s/step | tokens/s | MFU |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['layout']} | {r['ranks']} | {r['seconds_per_step']:.3f} | {r['tokens_per_s']:,.0f} | "
                  + ("- |" if r["mfu"] is None else f"{100 * r['mfu']:.1f}% |") for r in report["gpu"]]
        lines += ["", f"Peak: {report['gpu'][0]['peak_source']}."]
        if len(report["gpu"]) == 1:
            lines += ["", "One GPU visible: no data-parallel row (one training path: one process is the one-rank layout)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per layout (after one warm-up step)")
    p.add_argument("--repeats", type=int, default=2, help="rounds over the CPU layouts; each keeps its fastest")
    p.add_argument("--out", default="out/bench", help="directory of parallel.md and parallel.json")
    p.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.result)
        return 0
    report = {"steps": args.steps, "repeats": args.repeats, "cpu_cores": os.cpu_count(),
              "cpu_model": f"{CPU_MODEL['n_layers']} layers x {CPU_MODEL['dim']}, vocabulary 80,000, "
                           f"{CPU_RUN['global_batch_tokens']} tokens per step of {CPU_RUN['seq_len']}, fp32"}
    with tempfile.TemporaryDirectory() as tmp:
        for device, table in (("cpu", cpu_table), ("gpu", gpu_table)):
            report[device] = []
            if device == "cpu" or torch.cuda.is_available():
                (Path(tmp) / device).mkdir()
                report[device] = table(args.steps, args.repeats, Path(tmp) / device)
    write_files(args.out, {"parallel.json": json.dumps(report, indent=1) + "\n", "parallel.md": render(report)})
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
