"""The safety stage: the bad-word page filter, then PII masking, in one pass over the documents.

Per document, by its domain and language (``configs/safety.yaml``):

1. bad words (``badwords.domains``, a language with a list): the page is rejected as
   ``badwords:<lang>`` when its rate of listed words reaches the language's limit; counters
   ``badwords.<lang>.docs`` (pages rated) and ``badwords.<lang>.matches`` (words counted);
2. PII (``pii.domains`` and ``pii.languages``): each span is replaced by its placeholder; counters
   ``pii.<type>`` per span and ``pii.docs`` per document changed, the annotation ``pii.masked`` (spans
   masked) on the document. A Code document keeps the addresses of its leading licence comment when
   ``keep_in_license_headers`` is set (``pii.kept_in_license_header``).
"""

from __future__ import annotations

from collections.abc import Callable

from datapipe.document import Document
from datapipe.stage import Decision, DocumentStage, Reject

from .badwords import BadWordFilter
from .blocklists import WordLists
from .config import SafetyConfig
from .pii import PiiFinder, license_header_end, mask


class SafetyStage(DocumentStage):
    """Bad words, then PII (see the module). ``lists`` gives the word lists on the machine that runs
    the stage (on Spark: the broadcast's value)."""

    name = "safety"

    def __init__(self, config: SafetyConfig, lists: Callable[[], WordLists]):
        super().__init__()
        self.config, self.lists = config, lists

    def setup(self) -> None:
        self.badwords = BadWordFilter(self.lists().languages, self.config.badwords)
        self.pii = PiiFinder(self.config.pii)
        self.placeholders = dict(self.config.pii.placeholders)

    def process(self, doc: Document) -> Decision:
        if doc.domain in self.config.badwords.domains and self.badwords.has_language(doc.lang):
            scan = self.badwords.scan(doc.lang, doc.text)
            self.counters[f"badwords.{doc.lang}.docs"] += 1
            self.counters[f"badwords.{doc.lang}.matches"] += scan.count
            detail = self.badwords.verdict(doc.lang, scan)
            if detail is not None:
                return Reject(f"badwords:{doc.lang}", detail)
        pii = self.config.pii
        if doc.domain in pii.domains and (pii.languages is None or doc.lang in pii.languages):
            self._mask(doc)
        return doc

    def _mask(self, doc: Document) -> None:
        spans = self.pii.find(doc.text)
        if spans and doc.domain == "Code" and self.config.pii.keep_in_license_headers:
            header = license_header_end(doc.text, doc.lang)
            kept = [s for s in spans if s.start < header]
            self.counters["pii.kept_in_license_header"] += len(kept)
            spans = [s for s in spans if s.start >= header]
        if not spans:
            return
        for span in spans:
            self.counters[f"pii.{span.kind}"] += 1
        self.counters["pii.docs"] += 1
        doc.text = mask(doc.text, spans, self.placeholders)
        doc.annotations["pii.masked"] = float(len(spans))
