"""Spark processes killed mid-stage: the output must equal an undisturbed run's, and no half-written output may
ever look complete.

- ``executor_killed``: a stage submitted with ``spark-submit`` to a standalone master (``jobs.standalone``);
  while its tasks run, the executor JVM is sent SIGKILL. The worker starts a new executor, Spark reruns the
  lost tasks, and the job must complete with the undisturbed output (documents, rejects, counters). One
  trial per kind of stage: map-only (extract), with a shuffle (paragraph dedup), and the connected-components
  loop (MinHash dedup).
- ``driver_killed``: a stage, or the chain up to paragraph dedup, run as a process in local mode and sent
  SIGKILL at a random moment. Until the rerun ends, the output is either absent or complete and equal to the
  undisturbed one; the rerun (the chain's skip logic included) gives the undisturbed output and leaves no
  ``._tmp-*`` or ``._old-*`` directory behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE_TIMEOUT_S = 600


def _sample(work: Path) -> Path:
    from sample_corpus import write_sample_corpus

    sample = work / "sample"
    if not sample.exists():
        write_sample_corpus(sample)
    return sample


def output_rows(out: Path) -> dict:
    """What a document stage produced: its documents and rejects (sorted by id), and its counters."""
    import pyarrow.dataset as pads

    def rows(path: Path) -> list:
        if not path.exists():
            return []
        table = pads.dataset(str(path), format="parquet").to_table()
        return sorted(table.to_pylist(), key=lambda r: (r.get("id") or "", json.dumps(r, sort_keys=True, default=str)))

    stats = json.loads((out / "_stats.json").read_text())
    return {"documents": rows(out), "rejects": rows(out / "_rejects"), "counters": stats.get("counters", {})}


def _differences(got: dict, want: dict) -> str:
    return ", ".join(k for k in ("documents", "rejects", "counters") if got[k] != want[k])


def _stage_args(kind: str, sample: Path, extracted: Path | None, out: Path) -> list[str]:
    if kind == "extract":
        return [str(ROOT / "jobs" / "extract.py"), "--input", str(sample / "*.warc*"), "--output", str(out)]
    script = {"dedup_paragraphs": "dedup_paragraphs.py", "dedup_minhash": "dedup_minhash.py"}[kind]
    return [str(ROOT / "jobs" / script), "--input", str(extracted), "--output", str(out)]


KINDS = {"dedup_minhash": "connected-components loop (MinHash dedup)", "dedup_paragraphs": "shuffle (paragraph dedup)",
         "extract": "map-only (extract)"}


def _executor_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"CoarseGrainedExecutorBackend" in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                    kids.append(int(entry))
            except (OSError, ValueError):
                continue
    return kids


def executor_killed(trials: int, work: Path, seed: int = 0) -> dict:
    from jobs.dist import build_zip
    from jobs.standalone import Standalone

    rng = random.Random(seed)
    sample = _sample(work)
    zip_path = build_zip(work / "teleflm.zip")
    kinds = list(KINDS)
    survived = lost = 0
    recover, notes = [], []
    with Standalone(work / "cluster", workers=1, cores=2, memory="2g") as cluster:
        submit = [str(cluster.home / "bin" / "spark-submit"), "--master", cluster.master, "--py-files", str(zip_path),
                  "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}", "--executor-memory", "1g"]

        def run(kind: str, out: Path, extracted: Path | None, kill: bool) -> tuple[subprocess.CompletedProcess, float | None]:
            proc = subprocess.Popen(submit + _stage_args(kind, sample, extracted, out), env=cluster.env, cwd=work,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            killed_at = None
            if kill:
                deadline = time.monotonic() + STAGE_TIMEOUT_S
                while proc.poll() is None and time.monotonic() < deadline:  # tasks run: the executor has Python workers
                    busy = [pid for pid in _executor_pids() if _children(pid)]
                    if busy:
                        time.sleep(rng.uniform(0.0, 1.5))
                        for pid in _executor_pids():
                            os.kill(pid, signal.SIGKILL)
                        killed_at = time.monotonic()
                        break
                    time.sleep(0.05)
            output, _ = proc.communicate(timeout=STAGE_TIMEOUT_S)
            return subprocess.CompletedProcess(proc.args, proc.returncode, output, ""), killed_at

        extracted = work / "extracted"
        first, _ = run("extract", extracted, None, kill=False)
        if first.returncode != 0:
            raise RuntimeError(f"the undisturbed extract failed: {first.stdout[-2000:]}")
        for trial in range(trials):
            kind = kinds[trial % len(kinds)]
            reference = work / f"ref-{kind}"
            if not reference.exists():
                done, _ = run(kind, reference, extracted, kill=False)
                if done.returncode != 0:
                    raise RuntimeError(f"the undisturbed {kind} failed: {done.stdout[-2000:]}")
            out = work / f"killed-{kind}-{trial}"
            done, killed_at = run(kind, out, extracted, kill=True)
            if killed_at is None:
                notes.append(f"{KINDS[kind]}: finished before the executor could be killed")
                continue
            recover.append(time.monotonic() - killed_at)
            if done.returncode != 0:
                notes.append(f"{KINDS[kind]}: the job failed after the kill")
                lost += len(output_rows(reference)["documents"])
                continue
            diff = _differences(output_rows(out), output_rows(reference))
            if diff:
                notes.append(f"{KINDS[kind]}: differs from the undisturbed run in {diff}")
                got, want = output_rows(out), output_rows(reference)
                lost += max(0, len(want["documents"]) - len(got["documents"]))
                continue
            survived += 1
    return {"fault": "Spark executor killed (SIGKILL, standalone cluster)", "trials": trials, "survived": survived, "lost": lost,
            "recover_s": sum(recover) / len(recover) if recover else None,
            "detail": f"one trial per kind of stage: {', '.join(KINDS[k] for k in kinds[:trials])}; the job completes by retry with "
                      "the undisturbed documents, rejects and counters" + (f"; {'; '.join(notes)}" if notes else "")}


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}._*") if "._tmp-" in p.name or "._old-" in p.name)


def _chain_config(work: Path, sample: Path, out: Path) -> Path:
    import yaml

    config = work / f"{out.name}.yaml"
    config.write_text(yaml.safe_dump({
        "out": str(out), "warc": [str(sample / "*.warc*")], "domains": str(sample / "domains.yaml"), "driver_memory": "1g",
        "configs": {"quality": str(ROOT / "configs" / "demo" / "quality.yaml")},
    }))
    return config


CHAIN_UNTIL = "dedup_paragraphs"
CHAIN_OUTPUTS = ("extracted", "url_filtered", "cleaned", "dedup_paragraphs")


def _complete(out: Path) -> bool:
    return (out / "_SUCCESS").exists() or (out / "_stats.json").exists()


def driver_killed(trials: int, work: Path, seed: int = 0) -> dict:
    rng = random.Random(seed)
    sample = _sample(work)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    survived = lost = 0
    recover, notes, kills = [], [], []

    def command(trial_kind: str, out: Path) -> list[str]:
        if trial_kind == "chain":
            return [sys.executable, "-m", "jobs.run_chain", "--config", str(_chain_config(work, sample, out)), "--master", "local[2]",
                    "--until", CHAIN_UNTIL]
        return [sys.executable] + _stage_args("extract", sample, None, out) + ["--master", "local[2]"]

    def outputs(trial_kind: str, out: Path) -> list[Path]:
        return [out / name for name in CHAIN_OUTPUTS] if trial_kind == "chain" else [out]

    references: dict[str, tuple[Path, float]] = {}
    for trial_kind in ("stage", "chain")[: max(1, min(2, trials))]:
        ref = work / f"ref-{trial_kind}"
        started = time.monotonic()
        done = subprocess.run(command(trial_kind, ref), env=env, cwd=ROOT, capture_output=True, text=True, timeout=STAGE_TIMEOUT_S * 3)
        if done.returncode != 0:
            raise RuntimeError(f"the undisturbed {trial_kind} run failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        references[trial_kind] = (ref, time.monotonic() - started)
    for trial in range(trials):
        trial_kind = "chain" if trial % 2 and "chain" in references else "stage"
        ref, duration = references[trial_kind]
        out = work / f"killed-{trial}"
        proc = subprocess.Popen(command(trial_kind, out), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        kill_after = rng.uniform(0.1, 1.0) * duration
        deadline = time.monotonic() + kill_after
        premature = []
        while time.monotonic() < deadline and proc.poll() is None:
            premature += [p.name for p in outputs(trial_kind, out) if _complete(p) and output_rows(p) != output_rows(_ref_path(ref, p, out))]
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the JVM it started
        proc.wait()
        killed_at = time.monotonic()
        kills.append(f"{kill_after:.1f}s")
        for p in outputs(trial_kind, out):  # what the kill left: absent, or complete and right
            if _complete(p) and output_rows(p) != output_rows(_ref_path(ref, p, out)):
                premature.append(p.name)
        rerun = subprocess.run(command(trial_kind, out), env=env, cwd=ROOT, capture_output=True, text=True, timeout=STAGE_TIMEOUT_S * 3)
        recover.append(time.monotonic() - killed_at)
        if rerun.returncode != 0:
            notes.append(f"trial {trial} ({trial_kind}): the rerun failed")
            lost += sum(len(output_rows(_ref_path(ref, p, out))["documents"]) for p in outputs(trial_kind, out))
            continue
        wrong = [p.name for p in outputs(trial_kind, out) if _differences(output_rows(p), output_rows(_ref_path(ref, p, out)))]
        left = [name for p in outputs(trial_kind, out) for name in _leftovers(p)]
        if wrong or premature or left:
            notes.append(f"trial {trial} ({trial_kind}, killed after {kill_after:.1f}s): "
                         + "; ".join(filter(None, [wrong and f"differs: {', '.join(wrong)}",
                                                   premature and f"incomplete output looked complete: {', '.join(sorted(set(premature)))}",
                                                   left and f"left behind: {', '.join(left)}"])))
            lost += sum(max(0, len(output_rows(_ref_path(ref, p, out))["documents"]) - len(output_rows(p)["documents"]))
                        for p in outputs(trial_kind, out) if p.name in wrong)
            continue
        survived += 1
    return {"fault": "Spark driver killed (SIGKILL, local mode)", "trials": trials, "survived": survived, "lost": lost,
            "recover_s": sum(recover) / len(recover) if recover else None,
            "detail": f"a stage (extract) and the chain up to {CHAIN_UNTIL}, killed after {', '.join(kills)}; after each kill every "
                      "output was absent or complete and right, the rerun gave the undisturbed output and removed the killed "
                      "run's temporaries" + (f"; {'; '.join(notes)}" if notes else "")}


def _ref_path(ref: Path, p: Path, out: Path) -> Path:
    return ref / p.relative_to(out) if p != out else ref


if __name__ == "__main__":
    import tempfile

    which = sys.argv[1] if len(sys.argv) > 1 else "driver"
    print((executor_killed if which == "executor" else driver_killed)(int(sys.argv[2]) if len(sys.argv) > 2 else 2,
                                                                        Path(tempfile.mkdtemp())))
