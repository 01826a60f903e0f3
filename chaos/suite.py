"""make chaos: inject faults into the chain and the trainer, check that nothing is lost, report.

    python -m chaos.suite [--quick] [--only NAME,...] [--seed N] [--out out/chaos]

Each fault is a module with ``run(trials, work, seed) -> row``; a row has ``fault``, ``trials``, ``survived``
(trials that ended as they must: the job completed with the undisturbed output, or failed before any harm
with a clear error), ``lost`` (good records, documents, tokens or steps lost; 0 is the only pass),
``recover_s`` (mean seconds from the fault to a complete output or a clear error) and ``detail``. The table
goes to stdout and to ``OUT/report.md``, the rows to ``OUT/report.json``. ``--quick`` runs a few trials of
each (the form ``tests/test_chaos.py`` runs in CI); the full suite takes under 30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (module, trials in the full suite, trials with --quick)
FAULTS: dict[str, tuple[str, int, int]] = {
    "warc": ("chaos.warc_faults", 20, 2),
    "executor": ("chaos.spark_faults:executor_killed", 3, 1),
    "driver": ("chaos.spark_faults:driver_killed", 8, 1),
    "trainer": ("chaos.trainer_faults", 50, 4),
    "torchrun": ("chaos.trainer_faults:torchrun_restart", 2, 1),
    "shards": ("chaos.shard_faults", 8, 3),
    "disk": ("chaos.disk_faults", 2, 2),
    "configs": ("chaos.bad_configs", 60, 8),
}


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "run")


def run_fault(name: str, trials: int, work: Path, seed: int) -> dict:
    """One fault's row; a crash of the scenario itself is a failed row, not a crashed suite."""
    started = time.perf_counter()
    try:
        row = _resolve(FAULTS[name][0])(trials, work, seed)
    except Exception as exc:  # the suite reports every fault, whatever one of them does
        row = {"fault": name, "trials": trials, "survived": 0, "lost": None, "recover_s": None,
               "detail": f"the scenario failed: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    row["name"] = name
    row["wall_s"] = round(time.perf_counter() - started, 1)
    return row


def passed(row: dict) -> bool:
    return row.get("lost") == 0 and row.get("survived") == row.get("trials") and not row.get("skipped")


def render(rows: list[dict]) -> str:
    lines = ["| fault | trials | survived | data lost | time to recover | wall | detail |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        recover = "n/a" if r.get("recover_s") is None else f"{r['recover_s']:.2f} s"
        lost = "n/a" if r.get("lost") is None else str(r["lost"])
        status = "skipped: " if r.get("skipped") else ""
        lines.append(f"| {r['fault']} | {r['trials']} | {r['survived']} | {lost} | {recover} | {r['wall_s']:.0f} s | "
                     f"{status}{r.get('detail', '')} |")
    verdict = "PASS" if all(passed(r) or r.get("skipped") for r in rows) else "FAIL"
    skipped = [r["fault"] for r in rows if r.get("skipped")]
    return "\n".join(lines) + f"\n\nVerdict: {verdict}" + (f" ({len(skipped)} skipped: {', '.join(skipped)})" if skipped else "") + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chaos.suite", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few trials per fault (the CI form)")
    p.add_argument("--only", default="", help=f"comma-separated faults to run (default: all of {', '.join(FAULTS)})")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    p.add_argument("--out", default=str(ROOT / "out" / "chaos"), help="where report.md and report.json go (default: out/chaos)")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch directory of the scenarios")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        p.error(f"--only: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    scratch = Path(tempfile.mkdtemp(prefix="chaos-"))
    rows = []
    try:
        for name in names:
            trials = FAULTS[name][2 if args.quick else 1]
            if not trials:
                rows.append({"name": name, "fault": name, "trials": 0, "survived": 0, "lost": None, "recover_s": None, "wall_s": 0.0,
                             "skipped": True, "detail": "not in the quick form (make chaos runs it)"})
                continue
            print(f"[chaos] {name}: {trials} trial(s)", flush=True)
            work = scratch / name
            work.mkdir()
            rows.append(run_fault(name, trials, work, args.seed))
            r = rows[-1]
            print(f"[chaos] {name}: {r['survived']}/{r['trials']} survived, lost {r['lost']}, {r['wall_s']:.0f} s"
                  + (" (skipped)" if r.get("skipped") else ""), flush=True)
    finally:
        if args.keep_work:
            print(f"[chaos] scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    from datapipe.io import atomic_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = render(rows)
    with atomic_file(out / "report.md", "w") as f:
        f.write("# Fault injection (make chaos)\n\n" + table)
    with atomic_file(out / "report.json", "w") as f:
        json.dump(rows, f, indent=2)
    print("\n" + table)
    print(f"[chaos] wrote {out / 'report.md'} and {out / 'report.json'}")
    return 0 if all(passed(r) or r.get("skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
