"""The trainer killed (SIGKILL) at random points, inside checkpoint writes and during a growth ramp: ``--resume
auto`` must continue to the same final weights and optimizer state, bit-exact on CPU, as an undisturbed run.

``run``: tiny runs on small shards, checkpointing every 2 steps, one of every two with an MSG growth (width,
heads and FFN) ramped in over 6 steps. Each run is killed several times, then left to finish; each kill is
one trial, at one of three kinds of moment: a random one; as soon as a checkpoint is being written (a
``step-*._tmp-*`` directory appears); or inside the growth ramp. Survived: the run ended with the
undisturbed run's model and optimizer tensors (every one bit-equal) and losses. ``recover_s``: from the kill
to the restarted trainer's "resumed from" line.

``torchrun_restart``: two ranks under ``torchrun --max-restarts 1``; one rank is killed once a checkpoint
exists; the agent restarts the group, which resumes and must end as the undisturbed two-rank run. Each
torchrun has ``TORCHRUN_DEADLINE_S`` to end; past it the agent and its ranks are killed and the trial is
lost, so a hang cannot stall the suite. Every rank's output of every start is kept under
``WORK/<run>-logs`` (torchrun ``--log-dir``), the agent's under ``WORK/<run>.log``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MAX_STEPS = 24
GROWTH = [{"at_step": 8, "model": str(ROOT / "configs" / "model" / "tiny_wide.yaml"), "ramp_steps": 6}]
KILLS_PER_RUN = 10
TIMEOUT_S = 600
TORCHRUN_DEADLINE_S = 240
COLLECTIVE_TIMEOUT_S = 60
"""A rank waiting on a dead or stuck peer fails within a minute, well inside the deadline."""


def _config(work: Path, shards: Path, name: str, growth: bool) -> Path:
    cfg = {
        "model": str(ROOT / "configs" / "model" / "tiny.yaml"), "data": str(shards), "out": str(work / name), "seq_len": 32,
        "micro_batch_size": 4, "global_batch_tokens": 256, "max_steps": MAX_STEPS, "seed": 3,
        "optimizer": {"lr_vector": 3e-3, "lr_matrix": 3e-3, "lr_min": 3e-4, "warmup_steps": 3, "decay_steps": MAX_STEPS},
        "log_interval": 1, "eval_interval": None, "eval_tokens": 512, "checkpoint_interval": 2, "keep_checkpoints": 2,
        "collective_timeout_s": COLLECTIVE_TIMEOUT_S,
    }
    if growth:
        cfg["growth"] = GROWTH
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class _Trainer:
    """A trainer process whose output lines are read as they come, each with the moment it arrived."""

    def __init__(self, cmd: list[str], env: dict):
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))

    def kill(self) -> float:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=5)
        return time.monotonic()

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def finish(self, deadline: float) -> int | None:
        """The exit code, or None when the process still runs at ``deadline`` (``time.monotonic()``): then
        it and every process under it are killed (torchrun starts each rank in a session of its own)."""
        try:
            return self.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.wait()
            return None

    def first(self, text: str) -> float | None:
        return next((t for t, line in self.lines if text in line), None)

    def tail(self) -> str:
        return "".join(line for _, line in self.lines[-30:])


def final_state(run_dir: Path) -> dict:
    """Every model and optimizer tensor of the run's newest checkpoint, and its losses by step."""
    import torch

    from train import checkpoint as ckpt

    path = ckpt.latest_checkpoint(run_dir / "checkpoints")
    model = {k: torch.empty(shape) for k, shape in ckpt.tensor_shapes(path).items()}
    optimizer = {k: torch.empty(shape) for k, shape in ckpt.tensor_shapes(path, "optimizer").items()}
    ckpt.read_tensors(path, model, optimizer)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {"step": int(path.name.split("-")[1]), "model": model, "optimizer": optimizer,
            "losses": [(r["step"], r["loss"]) for r in rows if "loss" in r]}


def same_state(a: dict, b: dict) -> bool:
    import torch

    return (a["step"] == b["step"] and a["losses"] == b["losses"] and a["model"].keys() == b["model"].keys()
            and a["optimizer"].keys() == b["optimizer"].keys()
            and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
            and all(torch.equal(a["optimizer"][k], b["optimizer"][k]) for k in a["optimizer"]))


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1"}


def _shards(work: Path) -> Path:
    from tests.test_pretrain import write_shards

    shards = work / "shards"
    if not shards.exists():
        shards.mkdir(parents=True)
        write_shards(shards)
    return shards


def _wait_for(predicate, trainer: _Trainer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and trainer.proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _newest_step(run_dir: Path) -> int:
    from train import checkpoint as ckpt

    found = ckpt.list_checkpoints(run_dir / "checkpoints") if (run_dir / "checkpoints").exists() else []
    return max((int(p.name.split("-")[1]) for p in found), default=0)


def _growth_ramp_started(run_dir: Path) -> bool:
    metrics = run_dir / "metrics.jsonl"
    return metrics.exists() and '"growth"' in metrics.read_text()


def run(trials: int, work: Path, seed: int = 0) -> dict:
    rng = random.Random(seed)
    shards = _shards(work)
    env = _env()
    train = [sys.executable, "-m", "train.pretrain"]
    references, durations = {}, {}
    for growth in (False, True):
        name = f"ref-{'growth' if growth else 'plain'}"
        started = time.monotonic()
        done = subprocess.run(train + ["--config", str(_config(work, shards, name, growth)), "--resume", "none"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"the undisturbed run failed: {done.stderr[-2000:]}")
        references[growth], durations[growth] = final_state(work / name), time.monotonic() - started
    survived = lost_runs = kills_done = 0
    recover, kinds, notes = [], {"random": 0, "checkpoint write": 0, "growth ramp": 0}, []
    run_index = 0
    while kills_done < trials:
        growth = run_index % 2 == 1
        name = f"killed-{run_index}"
        run_dir = work / name
        config = _config(work, shards, name, growth)
        kills = min(KILLS_PER_RUN, trials - kills_done)
        killed_here = 0
        trainer = _Trainer(train + ["--config", str(config), "--resume", "auto"], env)
        while killed_here < kills:
            if trainer.proc.poll() is not None:
                if _newest_step(run_dir) >= MAX_STEPS:
                    break  # it finished between kills: the kills left go to the next run
                trainer = _Trainer(train + ["--config", str(config), "--resume", "auto"], env)
            kind = rng.choice(["random", "checkpoint write"] + (["growth ramp"] if growth and _newest_step(run_dir) < GROWTH[0]["at_step"] + 4 else []))
            if kind == "random":
                _wait_for(lambda: False, trainer, rng.uniform(0.5, max(1.0, 0.6 * durations[growth])))
            elif kind == "checkpoint write":  # the write of a checkpoint still to come, drawn among them
                done = _newest_step(run_dir)
                target = f"step-{rng.choice(range(done + 2, MAX_STEPS + 1, 2)) if done + 2 <= MAX_STEPS else MAX_STEPS:08d}._tmp-"
                _wait_for(lambda: any(p.name.startswith(target) for p in (run_dir / "checkpoints").glob("*._tmp-*")), trainer, TIMEOUT_S)
                time.sleep(rng.uniform(0, 0.05))
            else:
                _wait_for(lambda: _growth_ramp_started(run_dir), trainer, TIMEOUT_S)
                time.sleep(rng.uniform(0, 1.0))
            if trainer.proc.poll() is not None:  # it finished (or the moment passed) first
                continue
            killed_at = trainer.kill()
            kinds[kind] += 1
            killed_here += 1
            trainer = _Trainer(train + ["--config", str(config), "--resume", "auto"], env)
            _wait_for(lambda: trainer.first("resumed from") or trainer.first("step ") is not None, trainer, TIMEOUT_S)
            resumed = trainer.first("resumed from")
            if resumed:
                recover.append(resumed - killed_at)
        code = trainer.wait()
        kills_done += killed_here
        if code != 0:
            notes.append(f"run {run_index}: the last restart failed: {trainer.tail()[-300:]}")
            lost_runs += 1
        elif not same_state(final_state(run_dir), references[growth]):
            notes.append(f"run {run_index}{' (growth)' if growth else ''}: final state differs from the undisturbed run")
            lost_runs += 1
        else:
            survived += killed_here
        run_index += 1
    return {"fault": "trainer killed (SIGKILL), --resume auto", "trials": trials, "survived": survived, "lost": lost_runs,
            "recover_s": sum(recover) / len(recover) if recover else None,
            "detail": f"{run_index} runs of {MAX_STEPS} steps (checkpoint every 2; every other one grown at step 8, ramped over 6), "
                      f"killed {kinds['random']} times at random, {kinds['checkpoint write']} inside a checkpoint write, "
                      f"{kinds['growth ramp']} inside the growth ramp; survived = final model and AdamW tensors and losses bit-equal "
                      f"to the undisturbed run; lost = runs that did not end so" + (f"; {'; '.join(notes)}" if notes else "")}


def torchrun_restart(trials: int, work: Path, seed: int = 0) -> dict:
    rng = random.Random(seed)
    shards = _shards(work)
    env = _env()

    def torchrun(name: str, restarts: int) -> _Trainer:
        return _Trainer([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                         f"--max-restarts={restarts}", "--log-dir", str(work / f"{name}-logs"), "--tee", "3",
                         "-m", "train.pretrain", "--config", str(_config(work, shards, name, False)), "--resume", "auto", "--dp", "2"],
                        env)

    reference = torchrun("ref-dp2", 0)
    code = reference.finish(time.monotonic() + TORCHRUN_DEADLINE_S)
    if code != 0:
        raise RuntimeError(f"the undisturbed two-rank run {'hung' if code is None else 'failed'}: {reference.tail()[-2000:]}")
    want = final_state(work / "ref-dp2")
    survived = lost = 0
    recover, notes = [], []
    for trial in range(trials):
        name = f"killed-dp2-{trial}"
        run_dir = work / name
        deadline = time.monotonic() + TORCHRUN_DEADLINE_S
        agent = torchrun(name, 1)
        _wait_for(lambda: any(p.name.startswith("step-") and "._tmp-" not in p.name for p in (run_dir / "checkpoints").glob("step-*"))
                  if (run_dir / "checkpoints").exists() else False, agent, deadline - time.monotonic())
        time.sleep(rng.uniform(0, 0.5))
        ranks = [pid for pid in _descendants(agent.proc.pid) if b"train.pretrain" in _cmdline(pid) and b"torch.distributed.run" not in _cmdline(pid)]
        if not ranks or agent.proc.poll() is not None:
            notes.append(f"trial {trial}: the run ended before a rank could be killed")
            agent.finish(deadline)
            continue
        os.kill(rng.choice(ranks), signal.SIGKILL)
        killed_at = time.monotonic()
        code = agent.finish(deadline)
        (work / f"{name}.log").write_text("".join(line for _, line in agent.lines))
        restarted = [t for t, line in agent.lines if "resumed from" in line and t > killed_at]
        if restarted:
            recover.append(restarted[0] - killed_at)
        if code is None:
            notes.append(f"trial {trial}: torchrun still running {TORCHRUN_DEADLINE_S} s after its start: killed")
            lost += 1
        elif code != 0:
            errors = [line.strip() for _, line in agent.lines if "rror" in line][-4:]
            notes.append(f"trial {trial}: torchrun ended with {code}: {' | '.join(errors)[-600:]}")
            lost += 1
        elif not same_state(final_state(run_dir), want):
            notes.append(f"trial {trial}: final state differs from the undisturbed two-rank run")
            lost += 1
        else:
            survived += 1
    return {"fault": "a rank killed under torchrun --max-restarts 1", "trials": trials, "survived": survived, "lost": lost,
            "recover_s": sum(recover) / len(recover) if recover else None,
            "detail": "dp 2 on CPU (gloo); one rank SIGKILLed after the first checkpoint; the agent restarts both ranks, which "
                      "resume from the newest checkpoint and must end bit-equal to the undisturbed two-rank run"
                      + (f"; {'; '.join(notes)}" if notes else "")}


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        found += kids
        frontier += kids
    return found


if __name__ == "__main__":
    import tempfile

    which = sys.argv[1] if len(sys.argv) > 1 else "run"
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    print((torchrun_restart if which == "torchrun" else run)(trials, Path(tempfile.mkdtemp())))
