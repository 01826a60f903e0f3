"""The fault-injection suite in its quick form (``make chaos`` runs the full one): each fault a few times, and
nothing lost."""

from __future__ import annotations

import json

import pytest

from chaos import suite
from tests.conftest import shared


@pytest.mark.parametrize("name", [name for name, (_, _, quick) in suite.FAULTS.items() if quick])
def test_fault_loses_nothing(name, tmp_path):
    if name in ("warc", "executor", "driver", "disk"):
        shared("warc_real_pages")  # the scenarios read real crawl files or the sample built from the project
    trials = suite.FAULTS[name][2]
    row = suite.run_fault(name, trials, tmp_path, seed=0)
    if row.get("skipped"):
        pytest.skip(row["detail"])
    assert row["lost"] == 0 and row["survived"] == row["trials"] == trials, row.get("traceback") or row["detail"]


def test_the_suite_writes_its_table_and_rows(tmp_path, capsys):
    shared("warc_real_pages")
    assert suite.main(["--quick", "--only", "warc", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "report.json").read_text())
    assert [r["name"] for r in rows] == ["warc"] and {"fault", "trials", "survived", "lost"} <= rows[0].keys()
    table = (tmp_path / "report.md").read_text()
    assert "| fault | trials | survived | data lost |" in table and "Verdict: PASS" in table
    assert "corrupted gzip members" in capsys.readouterr().out
