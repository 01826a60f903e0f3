"""``python -m report``: write the run's HTML report (see ``report``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from datapipe.cli import main_of
from datapipe.config import ConfigError
from datapipe.io import atomic_file
from report import __doc__ as DOC
from report.layout import Run, find_training_runs
from report.page import render


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m report", description=DOC.split("\n\n")[0])
    p.add_argument("--run", required=True, type=Path, help="the chain's output root (e.g. out/demo, out/pipeline)")
    p.add_argument("--out", type=Path, default=None, help="the HTML file to write (default: RUN/report/index.html)")
    p.add_argument("--train-run", action="append", type=Path, default=[], metavar="DIR",
                   help="a training run directory (with metrics.jsonl) to show besides those found under RUN; repeatable")
    args = p.parse_args(argv)
    if not args.run.is_dir():
        raise ConfigError(f"--run {args.run}: no such directory")
    for d in args.train_run:
        if not (d / "metrics.jsonl").is_file():
            raise ConfigError(f"--train-run {d}: no metrics.jsonl there")
    train_runs = sorted(set(find_training_runs(args.run)) | set(args.train_run))
    page, complete = render(Run(args.run, train_runs))
    out = args.out or args.run / "report" / "index.html"
    with atomic_file(out, "w") as f:
        f.write(page)
    print(f"wrote {out} ({len(page.encode()) / 1e3:,.0f} KB)")
    return 0 if complete else 1


main = main_of(run)

if __name__ == "__main__":
    raise SystemExit(main())
