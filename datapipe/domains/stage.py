"""The ingest stage: the files of a source list read by their source's reader, languages identified in
batches where a source does not set one, and every document counted per domain and per source."""

from __future__ import annotations

from collections.abc import Iterator

from datapipe import io
from datapipe.langid import LanguageIdentifier
from datapipe.stage import Outcome, SourceStage, doc_bytes

from .base import Reader, SourceBase, assign_languages, source_of
from .classical import ChinesePoetryReader, NiuTransReader
from .code import CodeReader
from .config import DomainsConfig
from .encyclopedia import EncyclopediaReader, SquadReader, WikiExtractorReader
from .latex import LatexReader
from .text import JsonlReader, MarkdownReader, QAReader, TextReader

READERS: dict[str, type[Reader]] = {
    "code": CodeReader,
    "text": TextReader,
    "markdown": MarkdownReader,
    "jsonl": JsonlReader,
    "qa": QAReader,
    "encyclopedia": EncyclopediaReader,
    "squad": SquadReader,
    "wikiextractor": WikiExtractorReader,
    "latex": LatexReader,
    "chinese_poetry": ChinesePoetryReader,
    "niutrans": NiuTransReader,
}


def make_reader(source: SourceBase) -> Reader:
    return READERS[source.reader](source)


class IngestStage(SourceStage):
    """Rows ``(path, source, relpath)``: a file URI, the index of its source in the config, and its path
    relative to the data root (which the documents' urls use).

    Counters: ``docs_in``/``bytes_in`` for every document a reader made (kept or rejected),
    ``domain.<Domain>.docs``/``.bytes``/``.rejected``, ``source.<name>.docs``, and each reader's own
    (``source.<name>.skip.<reason>`` for what never became a document, informational counts)."""

    name = "ingest"

    def __init__(self, config: DomainsConfig):
        super().__init__()
        self.config = config

    def setup(self) -> None:
        self.readers: dict[int, Reader] = {}
        self.langid = LanguageIdentifier(max_chars=self.config.langid_max_chars)

    def read(self, row: dict) -> Iterator[Outcome]:
        index = row["source"]
        if index not in self.readers:
            self.readers[index] = make_reader(self.config.sources[index])
        reader = self.readers[index]
        try:
            stream = io.open_input(row["path"])
        except OSError:
            reader.skip("unreadable_file")
            return
        with stream:
            yield from reader.read(stream, row["relpath"], row["path"])

    def outcomes(self, rows: Iterator[dict]) -> Iterator[Outcome]:
        for o in assign_languages(super().outcomes(rows), self.langid.predict, self.config.langid_batch_size):
            domain, size = o.doc.domain, doc_bytes(o.doc)
            self.counters["docs_in"] += 1
            self.counters["bytes_in"] += size
            if o.reason:
                self.counters[f"domain.{domain}.rejected"] += 1
            else:
                self.counters[f"domain.{domain}.docs"] += 1
                self.counters[f"domain.{domain}.bytes"] += size
                self.counters[f"source.{source_of(o.doc.url)}.docs"] += 1
            yield o
        for index, reader in self.readers.items():
            name = self.config.sources[index].name
            self.counters.update({f"source.{name}.{k}": v for k, v in reader.counters.items() if v})
