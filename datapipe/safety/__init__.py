"""Safety filtering: URLs on block lists, pages full of listed bad words, and personal data.

- ``config``: the settings of both stages (``configs/safety.yaml``);
- ``blocklists``: list file formats, and the tables built from them on the driver and broadcast;
- ``urls``: the URL filter stage (``jobs/url_filter.py``, right after extraction);
- ``badwords`` and ``pii``: the bad-word rate and the PII finder, which ``stage.SafetyStage`` runs in
  one pass (``jobs/safety.py``, on web text after paragraph dedup and on the other domains after
  ingest, both before MinHash so that masked duplicates still collapse).
"""
