"""The stage contract: a stage states its transform, the shared runner counts what goes in and out."""

from __future__ import annotations

from datapipe.document import Document
from datapipe.mixture import MixStage
from datapipe.stage import DocumentStage, Reject, doc_bytes, run_documents


class DropShort(DocumentStage):
    name = "drop_short"

    def process(self, doc):
        self.counters["seen"] += 1
        if len(doc.text) < 5:
            return Reject("too_short", detail=str(len(doc.text)))
        doc.text = doc.text.upper()
        return doc


class Removes(DocumentStage):
    name = "removes"
    columns = ("remove",)

    def process(self, doc, remove=None):
        return Reject("listed") if remove else doc


DOCS = [Document(id="a", text="hello world"), Document(id="b", text="hi"), Document(id="c", text="héllo")]


def test_outcomes_and_the_shared_counters():
    stage = DropShort()
    outcomes = run_documents(stage, DOCS)
    assert [(o.doc.id, o.doc.text, o.reason, o.detail) for o in outcomes] == [
        ("a", "HELLO WORLD", None, None), ("b", "hi", "too_short", "2"), ("c", "HÉLLO", None, None)]
    c = stage.counters
    assert c["docs_in"] == 3 and c["docs_out"] == 2 and c["drop.too_short"] == 1 and c["seen"] == 3
    assert c["bytes_in"] == sum(doc_bytes(d) for d in DOCS) == 11 + 2 + 6
    assert c["bytes_out"] == 11 + 6  # of the text as kept


def test_decision_columns_reach_process_by_name():
    outcomes = run_documents(Removes(), DOCS, remove=[False, True, None])
    assert [o.reason for o in outcomes] == [None, "listed", None]


def test_several_documents_out_of_one():
    stage = MixStage({"WebText": 2.0, "Book": 0.0}, seed=0)
    docs = [Document(id="w", text="web text"), Document(id="k", text="a book", domain="Book")]
    outcomes = run_documents(stage, docs)
    assert [(o.doc.id, o.doc.annotations.get("mix.copy"), o.reason) for o in outcomes] == [
        ("w", 0.0, None), ("w", 1.0, None), ("k", None, "mix:downsampled")]
    assert stage.counters["docs_in"] == 2 and stage.counters["docs_out"] == 2 and stage.counters["mix.WebText.docs_out"] == 2
    assert docs[0].annotations == {}  # the copies are new documents
