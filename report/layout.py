"""Where a run keeps what the report reads: the chain's stage outputs under the output root (named by
``jobs.run_chain.plan``, the one place that lays them out), their JSON reports and Parquet files, and
the training runs (directories with a ``metrics.jsonl``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jobs.run_chain import PipelineConfig, Step, plan

METRICS_FILE = "metrics.jsonl"
STATS_FILE = "_stats.json"
REJECTS_DIR = "_rejects"


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None when the file is absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def parquet_files(directory: Path) -> list[Path]:
    """The data files of a Parquet directory, as Spark's readers see them (hidden names skipped)."""
    if not directory.is_dir():
        return []
    return sorted(f for f in directory.glob("*.parquet") if not f.name.startswith((".", "_")))


def find_training_runs(root: Path) -> list[Path]:
    """Directories at most two levels below ``root`` (or ``root`` itself) that hold a ``metrics.jsonl``."""
    found = [root / METRICS_FILE, *root.glob(f"*/{METRICS_FILE}"), *root.glob(f"*/*/{METRICS_FILE}")]
    return sorted({f.parent for f in found if f.is_file()})


@dataclass
class Run:
    """A run's output root, the chain steps that would write under it, and the training runs to show."""

    root: Path
    train_runs: list[Path] = field(default_factory=list)
    steps: list[Step] = field(init=False)

    def __post_init__(self) -> None:
        self.steps = plan(PipelineConfig(out=str(self.root)))

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def output(self, name: str) -> Path:
        return Path(self.step(name).output)

    def stats(self, name: str) -> dict | None:
        """The stage's ``_stats.json``; None when the stage has not written its output."""
        return read_json(self.output(name) / STATS_FILE)

    def stage_stats(self) -> list[dict]:
        """Every step's ``_stats.json`` that counts documents in and out, in chain order, its step name as ``stage``."""
        found = []
        for s in self.steps:
            st = self.stats(s.name)
            if st is not None and "docs_in" in st.get("counters", {}):
                found.append({**st, "stage": s.name})
        return found

    def chain_record(self, name: str) -> dict | None:
        """What ``run_chain`` recorded when the step completed (fingerprint, seconds)."""
        return read_json(self.root / "_chain" / f"{name}.json")
