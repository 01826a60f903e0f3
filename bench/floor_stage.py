"""The floor of a document stage on Spark: every document kept unchanged, through the same runner as
the real stages (read the input's Parquet, ``mapInArrow`` into Python and back, write, commit,
``_stats.json``). What it costs is what any stage costs before it does anything, so ``bench_scale``
runs it beside the stages as their peer.

    spark-submit bench/floor_stage.py --input CORPUS --output OUT
"""

from __future__ import annotations

from datapipe.config import StrictModel
from datapipe.document import Document
from datapipe.stage import DocumentStage
from jobs.runner import Plan, StageJob, documents


class FloorConfig(StrictModel):
    """No settings: the floor keeps every document as it is."""


class KeepAll(DocumentStage):
    name = "floor"

    def process(self, doc: Document) -> Document:
        return doc


job = StageJob("floor", __doc__, FloorConfig, documents(lambda job: Plan(KeepAll(), job.docs)))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
