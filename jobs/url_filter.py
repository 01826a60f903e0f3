"""URL filter: web documents on a block list, or with banned words in their URL, are dropped.

    spark-submit jobs/url_filter.py --input out/extracted --output out/url_filtered [--config configs/safety.yaml]

The block lists, the allow list and the URL words (``url_filter`` in the config) are read on the
driver into host and word sets (their sizes go to ``_stats.json`` under ``url_lists``), which are
broadcast; each task checks its documents' URLs (``datapipe.safety.urls.UrlFilterStage``). Dropped
documents go to ``OUT/_rejects`` as ``url:blocklist:<list>``, ``url:banned_words``,
``url:banned_subwords`` or ``url:soft_words``; domain documents pass, counted as ``url.not_web``.
"""

from __future__ import annotations

from datapipe.safety.blocklists import load_url_lists
from datapipe.safety.config import SafetyConfig
from datapipe.safety.urls import UrlFilterStage
from jobs.runner import StageJob, broadcast_plan, documents

job = StageJob("url_filter", __doc__, SafetyConfig,
               documents(broadcast_plan(lambda job, lists: UrlFilterStage(lists), "url_lists")),
               prepare=lambda args, config: load_url_lists(config))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
