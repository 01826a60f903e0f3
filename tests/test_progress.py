"""Progress lines from the driver while a stage's Spark jobs run."""

from __future__ import annotations

import io
import time


def test_progress_lines_while_tasks_run_and_silence_when_idle(spark):
    from jobs.progress import StageProgress

    out = io.StringIO()
    progress = StageProgress(spark, "demo", interval=0.3, stream=out)
    assert progress.line() is None  # nothing runs
    with progress:
        df = spark.range(0, 24, numPartitions=6).selectExpr("id", "reflect('java.lang.Thread', 'sleep', cast(400 as bigint)) as pause")
        assert df.count() == 24 and df.write.mode("overwrite").format("noop").save() is None
    lines = out.getvalue().splitlines()
    assert lines, "no progress line while the job ran"
    assert all(line.startswith("[demo] ") and "tasks (" in line for line in lines)
    assert any("ETA ~" in line for line in lines)
    assert any("rows read" in line for line in lines)
    time.sleep(0.5)
    assert progress.line() is None
