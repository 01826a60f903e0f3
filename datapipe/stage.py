"""The stage contract: each step of the pipeline is a pure transform with its own counters.

As in datatrove, a stage says what it does and nothing about where documents come from or go:

- a ``DocumentStage`` decides about one document at a time (or a batch): ``process`` returns the
  document to keep (changed or not), several documents (the mixture's copies), or ``Reject(reason,
  detail)`` (the rejected document goes out with the annotations the stage gave it); the job may join decision columns to each document (``columns``: the paragraphs to remove,
  the surviving copy of a cluster), which ``process`` receives as keyword arguments;
- a ``SourceStage`` makes documents out of input files (WARC archives, domain sources) and counts its
  own inputs (for extraction the unit in is a WARC record).

``run`` drives a stage over rows (dicts of the document schema, or of the job's file listing) and does
the accounting every stage shares (``datapipe.stats``): ``docs_in``/``bytes_in`` for each document a
document stage reads, ``docs_out``/``bytes_out`` for each one it keeps, ``drop.<reason>`` for each reject.
What the transform measures besides goes to ``self.counters``. The same object runs over a list in a
test and once per task on Spark (``jobs.runner``), so a stage's counters are the same in both.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar

from .document import Document


@dataclass(frozen=True, slots=True)
class Reject:
    """Why a stage drops a document: ``reason`` names the rule (``c4:lorem_ipsum``), ``detail`` an
    optional specific (the id of the copy that survives)."""

    reason: str
    detail: str | None = None


@dataclass(slots=True)
class Outcome:
    """A document a stage produced: kept when ``reason`` is None, rejected with it otherwise."""

    doc: Document
    reason: str | None = None
    detail: str | None = None

    @property
    def kept(self) -> bool:
        return self.reason is None


Decision = Document | list[Document] | Reject
"""What ``DocumentStage.process`` returns for one document."""


def doc_bytes(doc: Document) -> int:
    """The UTF-8 size of a document's text (the unit of every ``bytes_*`` counter)."""
    return len(doc.text.encode("utf-8", "surrogatepass"))


def with_annotations(doc: Document, **values: float) -> Document:
    """A copy of ``doc`` with more annotations (the original is left as it was)."""
    return dataclasses.replace(doc, annotations={**doc.annotations, **values})


class Stage(ABC):
    """A step of the pipeline: ``run`` turns input rows into outcomes and counts them (see the module)."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.counters: Counter = Counter()

    def setup(self) -> None:
        """Load what the transform needs (models, tables), once per task, on the machine that runs it."""

    @abstractmethod
    def outcomes(self, rows: Iterator[dict]) -> Iterator[Outcome]:
        """The outcomes of the input rows, before the shared output accounting."""

    def run(self, rows: Iterable[dict]) -> Iterator[Outcome]:
        """Set up, then every outcome of ``rows``, counted."""
        self.setup()
        for outcome in self.outcomes(iter(rows)):
            if outcome.reason is None:
                self.counters["docs_out"] += 1
                self.counters["bytes_out"] += doc_bytes(outcome.doc)
            else:
                self.counters[f"drop.{outcome.reason}"] += 1
            yield outcome


class DocumentStage(Stage):
    """A transform of documents; subclasses implement ``process`` (or ``process_batch``)."""

    columns: ClassVar[tuple[str, ...]] = ()
    """Decision columns the job joins to every document, passed to ``process`` by name."""
    batch_size: ClassVar[int] = 512
    """Documents per ``process_batch`` call (batched models score faster)."""

    def process(self, doc: Document, **columns: Any) -> Decision:
        raise NotImplementedError(f"{type(self).__name__} implements neither process nor process_batch")

    def process_batch(self, docs: list[Document], columns: list[dict[str, Any]]) -> list[Decision]:
        return [self.process(doc, **cols) for doc, cols in zip(docs, columns)]

    def outcomes(self, rows: Iterator[dict]) -> Iterator[Outcome]:
        while batch := list(islice(rows, self.batch_size)):
            docs = [Document.from_row(row) for row in batch]
            columns = [{c: row.get(c) for c in self.columns} for row in batch]
            for doc in docs:
                self.counters["docs_in"] += 1
                self.counters["bytes_in"] += doc_bytes(doc)
            for doc, decision in zip(docs, self.process_batch(docs, columns)):
                if isinstance(decision, Reject):
                    yield Outcome(doc, decision.reason, decision.detail)
                elif isinstance(decision, Document):
                    yield Outcome(decision)
                else:
                    for copy in decision:
                        yield Outcome(copy)


class SourceStage(Stage):
    """Documents made from input files; ``read`` gets one row of the job's listing (``path`` and the
    job's other fields) at a time and counts what goes in."""

    @abstractmethod
    def read(self, row: dict) -> Iterator[Outcome]:
        """The outcomes of one input file."""

    def outcomes(self, rows: Iterator[dict]) -> Iterator[Outcome]:
        for row in rows:
            yield from self.read(row)


def run_documents(stage: DocumentStage, docs: Iterable[Document], **columns: list) -> list[Outcome]:
    """Run a document stage over documents in this process (tests, tools): ``columns`` gives each
    decision column as a list aligned with ``docs``."""
    rows = []
    for i, doc in enumerate(docs):
        row = doc.to_row()
        row["annotations"] = dict(row["annotations"])
        row.update({name: values[i] for name, values in columns.items()})
        rows.append(row)
    return list(stage.run(rows))
