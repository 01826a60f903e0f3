"""Progress of a stage's Spark jobs, from the driver, while they run: a line every ``interval`` seconds.

    [dedup_paragraphs] 37/64 tasks (2 running) in stage 5 of job 3; 1,204,311 rows read, 1,198,002 written; 0:01:12, ETA ~0:00:58

Tasks come from Spark's status tracker (public API); rows from its status store (the records counted by the
tasks that finished, read through the JVM; left out where the store is not reachable). The ETA is the time
per finished task of the running stages times the tasks left: a guess for those stages, not for the stages
still to come. Spark's own console bar is on when stderr is a terminal; these lines are for logs.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


class StageProgress:
    """A daemon thread printing progress lines for the block; quiet while no Spark job runs."""

    def __init__(self, spark, label: str, interval: float = 30.0, stream=None):
        self.spark = spark
        self.label = label
        self.interval = interval
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{label}", daemon=True)
        self._started = time.monotonic()
        self._stage_started: dict[int, float] = {}

    def __enter__(self) -> "StageProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                line = self.line()
            except Exception:  # the driver is shutting down, or the JVM went away: progress is best effort
                return
            if line:
                print(line, file=self.stream, flush=True)

    def _rows(self, stage_ids: list[int]) -> tuple[int, int] | None:
        try:
            stages = self.spark.sparkContext._jsc.sc().statusStore().activeStages()
            found = [stages.apply(i) for i in range(stages.size())]
        except Exception:  # an internal API: another Spark may not have it
            return None
        found = [s for s in found if s.stageId() in stage_ids]
        return sum(s.inputRecords() + s.shuffleReadRecords() for s in found), sum(s.outputRecords() + s.shuffleWriteRecords() for s in found)

    def line(self) -> str | None:
        """The progress line of the running stages now, None when none runs."""
        tracker = self.spark.sparkContext.statusTracker()
        jobs = sorted(tracker.getActiveJobsIds())
        stage_ids = sorted(tracker.getActiveStageIds())
        infos = [info for info in (tracker.getStageInfo(s) for s in stage_ids) if info is not None]
        if not infos:
            return None
        now = time.monotonic()
        for info in infos:
            self._stage_started.setdefault(info.stageId, now)
        done = sum(i.numCompletedTasks for i in infos)
        total = sum(i.numTasks for i in infos)
        running = sum(i.numActiveTasks for i in infos)
        failed = sum(i.numFailedTasks for i in infos)
        where = f"stage{'s' if len(infos) > 1 else ''} {', '.join(str(i.stageId) for i in infos)} of job{'s' if len(jobs) > 1 else ''} " \
                f"{', '.join(map(str, jobs))}"
        parts = [f"[{self.label}] {done}/{total} tasks ({running} running{f', {failed} failed' if failed else ''}) in {where}"]
        rows = self._rows([i.stageId for i in infos])
        if rows:
            parts.append(f"{rows[0]:,} rows read, {rows[1]:,} written")
        elapsed = now - self._started
        eta = ""
        if done:
            per_task = (now - min(self._stage_started[i.stageId] for i in infos)) / done
            eta = f", ETA ~{_clock(per_task * (total - done))}"
        parts.append(f"{_clock(elapsed)}{eta}")
        return "; ".join(parts)
