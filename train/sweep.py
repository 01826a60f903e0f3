"""Many short runs of ``train.pretrain`` in parallel processes, watched and stopped when they diverge:
the engine of the muP search (``train/mup_search.py``) and the transfer check (``train/mup_transfer.py``).

A run is the base model and run configs with overrides, written as YAML into the run's directory and
trained by ``python -m train.pretrain`` in a process of its own (``threads`` torch threads each, so that
``parallel`` runs share the machine's cores), logging every step. The sweep reads each run's
``metrics.jsonl`` as it grows and stops a run that diverges (see ``Divergence``); a run that the
trainer's own spike guard stops has diverged too. Every run's loss and gradient norm per step are kept
in its ``result.json``, whether it finished or was stopped; a run whose ``result.json`` matches its
configs is not run again, so a sweep that was interrupted picks up where it stopped.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from datapipe.config import ConfigError, StrictModel
from datapipe.io import write_files
from train import hparams
from train.config import ModelConfig, TrainConfig
from train.pretrain import METRICS_FILE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
RESULT_FILE = "result.json"


class Divergence(StrictModel):
    """When a run counts as diverged and is stopped: a loss that is not finite, or, after ``grace_steps``,
    a loss above ``loss_factor`` times the lowest loss of the run so far."""

    loss_factor: PositiveFloat = Field(1.5, gt=1.0, description="stop when the loss exceeds this times its lowest so far")
    grace_steps: PositiveInt = Field(5, description="steps before the loss rule applies (the first steps move fast)")


class SweepResources(StrictModel):
    """How many runs share the machine."""

    parallel: PositiveInt = Field(2, description="runs at the same time, one process each")
    threads: PositiveInt = Field(1, description="torch threads per run")
    gpus_per_run: NonNegativeInt = Field(0, description="GPUs per run: run slot k sees GPUs k x n to k x n + n - 1 "
                                         "(CUDA_VISIBLE_DEVICES); 0: none set")


def set_key(tree: dict, dotted: str, value) -> None:
    """``tree[a][b] = value`` for ``dotted`` = ``"a.b"``, creating the levels that are missing."""
    *path, last = dotted.split(".")
    for key in path:
        tree = tree.setdefault(key, {})
    tree[last] = value


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` (dotted keys or nested mappings) applied, as a new tree."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict):
            for inner, v in value.items():
                set_key(out, f"{key}.{inner}", v)
        else:
            set_key(out, key, value)
    return out


def with_values(values: dict[str, float], model: dict, train: dict) -> tuple[dict, dict]:
    """The model and run configs with searched hyperparameters set where the trainer reads them (the model
    config, or the run config's ``optimizer``; ``train.hparams.SECTION``)."""
    model, train = copy.deepcopy(model), copy.deepcopy(train)
    for name, value in values.items():
        if hparams.SECTION[name] == "model":
            model[name] = value
        else:
            train.setdefault("optimizer", {})[name] = value
    return model, train


@dataclass
class RunSpec:
    """One run: its name, the values it tries (``params``), other labels (width, parametrisation), and
    its complete model and run configs."""

    name: str
    params: dict[str, float]
    model: dict
    train: dict
    labels: dict = field(default_factory=dict)

    def validate(self) -> None:
        """Both configs as the trainer will read them (an error names the run and the key)."""
        for kind, model, data in (("model", ModelConfig, self.model), ("run", TrainConfig, {**self.train, "model": "m.yaml"})):
            try:
                model.model_validate(data)
            except ValueError as exc:
                raise ConfigError(f"run {self.name}: invalid {kind} config: {exc}") from None


@dataclass
class RunResult:
    """What a run did: ``finished``, ``diverged`` (stopped, with the reason) or ``failed`` (the trainer
    exited with an error), and its loss and gradient norm at every step it logged."""

    spec: RunSpec
    status: str
    reason: str
    steps: list[int]
    loss: list[float]
    grad_norm: list[float]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "finished"


def load_yaml(path: str | Path) -> dict:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None


def _absolute(path: str) -> str:
    return path if "://" in path or Path(path).is_absolute() else str((Path.cwd() / path).resolve())


def _write_configs(spec: RunSpec, run_dir: Path) -> Path:
    train = {**spec.train, "model": str(run_dir / "model.yaml"), "out": str(run_dir / "run"),
             "data": _absolute(spec.train["data"]), "log_interval": 1}
    write_files(run_dir, {"model.yaml": yaml.safe_dump(spec.model, sort_keys=False),
                          "train.yaml": yaml.safe_dump(train, sort_keys=False)})
    return run_dir / "train.yaml"


def _fingerprint(spec: RunSpec) -> str:
    return json.dumps([spec.model, spec.train], sort_keys=True)


class _Active:
    """A running run: its process, and the metrics read so far."""

    def __init__(self, spec: RunSpec, run_dir: Path, resources: SweepResources, slot: int):
        self.spec, self.run_dir, self.slot = spec, run_dir, slot
        config = _write_configs(spec, run_dir)
        env = {**os.environ, "OMP_NUM_THREADS": str(resources.threads), "MKL_NUM_THREADS": str(resources.threads),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        if resources.gpus_per_run:
            n = resources.gpus_per_run
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in range(slot * n, slot * n + n))
        self.log_file = (run_dir / "train.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "train.pretrain", "--config", str(config), "--resume", "none"],
                                     stdout=self.log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        self.started = time.time()
        self.offset = 0
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.grad_norm: list[float] = []

    def read(self) -> None:
        path = self.run_dir / "run" / METRICS_FILE
        if not path.exists():
            return
        with path.open() as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind("\n") + 1]
        self.offset += len(complete.encode())
        for line in complete.splitlines():
            row = json.loads(line)
            if "loss" in row:
                self.steps.append(row["step"])
                self.loss.append(float(row["loss"]))
                self.grad_norm.append(float(row["grad_norm"]))

    def diverged(self, rule: Divergence) -> str | None:
        if not self.loss:
            return None
        last = self.loss[-1]
        if not math.isfinite(last) or not math.isfinite(self.grad_norm[-1]):
            return f"loss {last} / gradient norm {self.grad_norm[-1]} at step {self.steps[-1]}"
        if len(self.loss) > rule.grace_steps:
            lowest = min(self.loss)
            if last > rule.loss_factor * lowest:
                return f"loss {last:.3f} at step {self.steps[-1]} is above {rule.loss_factor} x its lowest {lowest:.3f}"
        return None

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def result(self, status: str, reason: str) -> RunResult:
        self.log_file.close()
        return RunResult(self.spec, status, reason, self.steps, self.loss, self.grad_norm, round(time.time() - self.started, 1))


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:])


def _save(result: RunResult, run_dir: Path) -> None:
    data = asdict(result)
    data["fingerprint"] = _fingerprint(result.spec)
    write_files(run_dir, {RESULT_FILE: json.dumps(data) + "\n"})


def _load(spec: RunSpec, run_dir: Path) -> RunResult | None:
    path = run_dir / RESULT_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.pop("fingerprint", None) != _fingerprint(spec):
        return None
    data["spec"] = spec
    return RunResult(**data)


def run_sweep(specs: list[RunSpec], out: Path, resources: SweepResources, divergence: Divergence) -> list[RunResult]:
    """Train every run (those already done with the same configs are read back), ``resources.parallel``
    at a time; returns the results in the order of ``specs``."""
    for spec in specs:
        spec.validate()
        data = spec.train["data"]
        if "://" not in data and not (Path(data) / "manifest.json").exists():
            raise ConfigError(f"run {spec.name}: no token shards at {data} (no manifest.json); make them first "
                              "(the CPU presets read the demo shards of `make demo`)")
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError("run names must be unique")
    results: dict[str, RunResult] = {}
    pending = deque()
    for spec in specs:
        done = _load(spec, out / spec.name)
        if done is not None:
            results[spec.name] = done
        else:
            pending.append(spec)
    if results:
        print(f"{len(results)} of {len(specs)} runs already done, read back from {out}", flush=True)
    active: list[_Active] = []
    started = time.time()

    def finish(run: _Active, status: str, reason: str) -> None:
        result = run.result(status, reason)
        _save(result, run.run_dir)
        results[run.spec.name] = result
        final = f"loss {result.loss[-1]:.4f} at step {result.steps[-1]}" if result.loss else "no step logged"
        print(f"[{len(results)}/{len(specs)}] {run.spec.name}: {status} ({final}; {result.seconds:.0f} s)"
              + (f": {reason}" if reason else ""), flush=True)

    try:
        while pending or active:
            while pending and len(active) < resources.parallel:
                spec = pending.popleft()
                slot = min(set(range(resources.parallel)) - {run.slot for run in active})
                active.append(_Active(spec, out / spec.name, resources, slot))
            time.sleep(0.5)
            for run in list(active):
                run.read()
                reason = run.diverged(divergence)
                if reason is not None:
                    run.stop()
                    finish(run, "diverged", reason)
                    active.remove(run)
                elif run.proc.poll() is not None:
                    run.read()
                    if run.proc.returncode == 0:
                        finish(run, "finished", "")
                    else:
                        tail = _tail(run.run_dir / "train.log")
                        spiked = "skipped in a row" in tail
                        finish(run, "diverged" if spiked else "failed", tail)
                    active.remove(run)
    finally:
        for run in active:
            run.stop()
    print(f"{len(specs)} runs in {time.time() - started:.0f} s", flush=True)
    return [results[s.name] for s in specs]


# --- reading the curves ---------------------------------------------------------------------------


def final_loss(result: RunResult, tail: float = 0.1) -> float:
    """Mean loss over the last ``tail`` of the logged steps (at least 3): less noisy than the last step."""
    if not result.loss:
        return math.inf
    n = max(3, int(len(result.loss) * tail))
    return float(np.mean(result.loss[-n:]))


def rank_correlation(values: list[float]) -> float:
    """Spearman's correlation of ``values`` with their step order: +1 when they only ever rise."""
    if len(values) < 3:
        return 0.0
    ranks = np.argsort(np.argsort(values))
    return float(np.corrcoef(np.arange(len(values)), ranks)[0, 1])
