"""Readers and per-domain cleaning for the non-web domains of the Tele-FLM report's Table 1.

Web text comes from WARC files through extract and clean; every other domain enters the pipeline
here, one reader family per module, each pure Python and yielding ``Outcome``s (a document to keep
or to reject with its reason) with ``domain`` set:

=================  ===============  ===========================================================
reader (config)    module           what it reads
=================  ===============  ===========================================================
``code``           ``code``         source files by extension; license headers, generated and
                                    minified files (Code)
``text``           ``text``         plain text: books (Project Gutenberg framing, hard wraps,
                                    chapters), profession texts (Book, Profession-*)
``jsonl``, ``qa``  ``text``         JSONL records: text fields, or question + answer (QA, ...)
``encyclopedia``   ``encyclopedia`` articles without reference sections (WorldKnowledge)
``squad``          ``encyclopedia`` SQuAD-style JSON: distinct contexts, or QA pairs
``latex``          ``latex``        LaTeX without comments, preamble, bibliography (AcademicPaper)
``chinese_poetry`` ``classical``    chinese-poetry JSON collections (ClassicalChinese)
``niutrans``       ``classical``    NiuTrans Classical-Modern chapter files (ClassicalChinese)
=================  ===============  ===========================================================

``jobs/ingest.py`` runs them over the sources of ``configs/domains.yaml``.
"""

from __future__ import annotations

from .base import Outcome, Reader, SourceBase, assign_languages, source_url
from .classical import ChinesePoetryReader, NiuTransReader
from .code import CodeReader
from .config import DomainsConfig, Source, load_domains_config, resolve_root
from .encyclopedia import EncyclopediaReader, SquadReader
from .latex import LatexReader
from .text import JsonlReader, QAReader, TextReader

READERS: dict[str, type[Reader]] = {
    "code": CodeReader,
    "text": TextReader,
    "jsonl": JsonlReader,
    "qa": QAReader,
    "encyclopedia": EncyclopediaReader,
    "squad": SquadReader,
    "latex": LatexReader,
    "chinese_poetry": ChinesePoetryReader,
    "niutrans": NiuTransReader,
}


def make_reader(source: SourceBase) -> Reader:
    return READERS[source.reader](source)


__all__ = [
    "READERS",
    "DomainsConfig",
    "Outcome",
    "Reader",
    "Source",
    "SourceBase",
    "assign_languages",
    "load_domains_config",
    "make_reader",
    "resolve_root",
    "source_url",
]
