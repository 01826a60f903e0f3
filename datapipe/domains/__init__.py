"""Readers and per-domain cleaning for the non-web domains of the Tele-FLM report's Table 1.

Web text comes from WARC files through extract and clean; every other domain enters the pipeline
here, one reader family per module, each pure Python and yielding ``Outcome``s (a document to keep
or to reject with its reason) with ``domain`` set; ``IngestStage`` runs them over the files of a
source list:

=================  ===============  ===========================================================
reader (config)    module           what it reads
=================  ===============  ===========================================================
``code``           ``code``         source files by extension; license headers, generated and
                                    minified files (Code)
``text``           ``text``         plain text: books (Project Gutenberg framing, hard wraps,
                                    chapters), profession texts (Book, Profession-*)
``markdown``       ``text``         Markdown as plain text, per file or per section (statutes,
                                    news transcripts)
``jsonl``, ``qa``  ``text``         JSONL records: text fields, or question + answer (QA, ...)
``encyclopedia``   ``encyclopedia`` articles without reference sections (WorldKnowledge)
``wikiextractor``  ``encyclopedia`` WikiExtractor ``<doc>`` files, one document per article
``squad``          ``encyclopedia`` SQuAD-style JSON: distinct contexts, or QA pairs
``latex``          ``latex``        LaTeX without comments, preamble, bibliography (AcademicPaper)
``chinese_poetry`` ``classical``    chinese-poetry JSON collections (ClassicalChinese)
``niutrans``       ``classical``    NiuTrans Classical-Modern chapter files (ClassicalChinese)
=================  ===============  ===========================================================

``jobs/ingest.py`` lists the files of ``configs/domains.yaml``'s sources and runs ``IngestStage``.
"""

from __future__ import annotations

from .base import Reader, SourceBase, assign_languages, source_url
from .config import DomainsConfig, Source, load_domains_config, resolve_root
from .stage import READERS, IngestStage, make_reader

__all__ = [
    "READERS",
    "DomainsConfig",
    "IngestStage",
    "Reader",
    "Source",
    "SourceBase",
    "assign_languages",
    "load_domains_config",
    "make_reader",
    "resolve_root",
    "source_url",
]
