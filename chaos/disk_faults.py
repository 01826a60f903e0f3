"""A full disk while a stage writes its output and while the trainer writes a checkpoint: a clear error, the
previous good output or checkpoint intact, and a clean run once there is room again.

The disk is a small tmpfs mounted for the trial (root only; where mounting is not allowed the row says so
and is skipped). A filler file takes all but a few kilobytes of it just before the write that must fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from chaos.spark_faults import output_rows
from chaos.trainer_faults import _config, _env, _shards, _Trainer, _wait_for, final_state, same_state

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600


class SmallDisk:
    """A tmpfs of ``megabytes`` at ``path`` for the block; ``fill`` leaves ``keep`` bytes free."""

    def __init__(self, path: Path, megabytes: int):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise PermissionError(f"cannot mount a tmpfs ({done.stderr.strip() or 'mount failed'}): needs root")

    def fill(self, keep: int = 16 << 10) -> None:
        stat = os.statvfs(self.path)
        free = stat.f_bavail * stat.f_frsize
        with open(self.path / "filler", "wb") as f:
            f.truncate(0)
            chunk = b"\0" * (1 << 20)
            left = max(0, free - keep)
            try:
                while left > 0:
                    left -= f.write(chunk[: min(len(chunk), left)])
            except OSError:
                pass

    def free(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def __enter__(self) -> "SmallDisk":
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def _clear(text: str) -> bool:
    """An error a person can act on: the cause named, no Python traceback."""
    return "No space left on device" in text and "Traceback (most recent call last)" not in text


def _stage_trial(work: Path) -> tuple[bool, int, float, str]:
    from chaos.spark_faults import _sample

    sample = _sample(work)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with SmallDisk(work / "disk-stage", 64) as disk:
        out = disk.path / "extracted"
        cmd = [sys.executable, str(ROOT / "jobs" / "extract.py"), "--input", str(sample / "*.warc*"), "--output", str(out), "--master", "local[2]"]
        first = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
        if first.returncode != 0:
            raise RuntimeError(f"the first run failed: {first.stderr[-1500:]}")
        before = output_rows(out)
        disk.fill()
        started = time.monotonic()
        full = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
        failed_at = time.monotonic() - started
        intact = output_rows(out) == before
        problems = []
        if full.returncode == 0:
            problems.append("the run on a full disk succeeded")
        if not _clear(full.stderr + full.stdout):
            problems.append("no clear error: " + (full.stderr.strip().splitlines() or ["(nothing)"])[-1][:200])
        if not intact:
            problems.append("the previous output changed")
        disk.free()
        again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
        if again.returncode != 0 or output_rows(out) != before:
            problems.append("the run after freeing space did not give the same output")
        left = [p.name for p in disk.path.iterdir() if "._tmp-" in p.name or "._old-" in p.name]
        if left:
            problems.append(f"left behind: {', '.join(left)}")
    return not problems, 0 if intact else len(before["documents"]), failed_at, "; ".join(problems)


def _checkpoint_trial(work: Path) -> tuple[bool, int, float, str]:
    from train import checkpoint as ckpt

    shards = _shards(work)
    env = _env()
    train = [sys.executable, "-m", "train.pretrain"]
    reference = subprocess.run(train + ["--config", str(_config(work, shards, "ref-disk", False)), "--resume", "none"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=TIMEOUT_S)
    if reference.returncode != 0:
        raise RuntimeError(f"the undisturbed run failed: {reference.stderr[-1500:]}")
    want = final_state(work / "ref-disk")
    problems = []
    with SmallDisk(work / "disk-train", 64) as disk:
        config = _config(disk.path, shards, "run", False)
        run_dir = disk.path / "run"
        trainer = _Trainer(train + ["--config", str(config), "--resume", "auto"], env)
        _wait_for(lambda: ckpt.latest_checkpoint(run_dir / "checkpoints") is not None, trainer, TIMEOUT_S)
        good = ckpt.latest_checkpoint(run_dir / "checkpoints")
        disk.fill()
        started = time.monotonic()
        code = trainer.wait()
        failed_at = time.monotonic() - started
        output = "".join(line for _, line in trainer.lines)
        if code == 0:
            problems.append("training on a full disk succeeded")
        if not _clear(output):
            problems.append("no clear error: " + (output.strip().splitlines() or ["(nothing)"])[-1][:200])
        newest = ckpt.newest_verified(run_dir / "checkpoints")
        if newest is None or int(newest[0].name.split("-")[1]) < int(good.name.split("-")[1]):
            problems.append("the last good checkpoint is gone or no longer verifies")
        disk.free()
        resumed = subprocess.run(train + ["--config", str(config), "--resume", "auto"], cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=TIMEOUT_S)
        if resumed.returncode != 0 or not same_state(final_state(run_dir), want):
            problems.append("the resumed run did not end as the undisturbed one")
    return not problems, 0 if not problems else 1, failed_at, "; ".join(problems)


def run(trials: int, work: Path, seed: int = 0) -> dict:
    checks = [("stage output", _stage_trial), ("checkpoint", _checkpoint_trial)]
    survived = lost = 0
    seconds, notes = [], []
    try:
        for i in range(trials):
            what, trial = checks[i % len(checks)]
            ok, lost_here, failed_at, problems = trial(work / f"trial-{i}")
            survived += ok
            lost += lost_here
            seconds.append(failed_at)
            if problems:
                notes.append(f"{what}: {problems}")
    except PermissionError as exc:
        return {"fault": "disk full (stage output, checkpoint)", "trials": trials, "survived": 0, "lost": None, "recover_s": None,
                "skipped": True, "detail": str(exc)}
    return {"fault": "disk full (stage output, checkpoint)", "trials": trials, "survived": survived, "lost": lost,
            "recover_s": sum(seconds) / len(seconds) if seconds else None,
            "detail": "a 64 MB tmpfs filled just before the write: the stage and the trainer stop with 'No space left on device' "
                      "and no traceback, the previous output and checkpoint stay intact, and a run with room again completes as "
                      "an undisturbed one" + (f"; {'; '.join(notes)}" if notes else "")}


if __name__ == "__main__":
    import tempfile

    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2, Path(tempfile.mkdtemp())))
