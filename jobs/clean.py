"""Heuristic cleaning: line-level corrections and document filters (English and CJK rules).

    spark-submit jobs/clean.py --input out/extracted --output out/cleaned [--config configs/clean.yaml]

Kept documents carry the corrected text; every dropped document goes, unchanged and with its
reason, to ``OUT/_rejects`` (``datapipe.clean``).
"""

from __future__ import annotations

from datapipe.clean import CleanConfig, CleanStage
from jobs.runner import Plan, StageJob, documents

job = StageJob("clean", __doc__, CleanConfig, documents(lambda job: Plan(CleanStage(job.config), job.docs)))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
