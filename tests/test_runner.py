"""Size-balanced grouping of input files into tasks (jobs.runner.balance)."""

from __future__ import annotations

from jobs.runner import balance


def test_balance_groups_by_size_deterministically():
    files = [(f"f{i}", size) for i, size in enumerate([900, 500, 400, 300, 200, 100, 100, 50])]
    groups = balance(files, 3)
    assert groups == balance(list(reversed(files)), 3)
    assert sorted(p for g in groups for (p,) in g) == sorted(p for p, _ in files)
    sizes = dict(files)
    loads = sorted(sum(sizes[p] for (p,) in g) for g in groups)
    assert loads == [800, 850, 900]  # greedy, largest first, each to the lightest group


def test_balance_never_makes_empty_groups():
    assert balance([("a", 5)], 4) == [[("a",)]]
    assert len(balance([(f"f{i}", 10) for i in range(10)], 10)) == 10
