"""Build the zip of the project's Python packages that ``spark-submit --py-files`` ships to executors.

    python -m jobs.dist --output dist/teleflm.zip

Third-party dependencies travel separately (an archived virtualenv, see the README).
"""

from __future__ import annotations

import argparse
import os
import zipfile
from pathlib import Path

from datapipe.io import atomic_file

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("datapipe", "jobs", "tokenizer", "train")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def build_zip(output: str | os.PathLike) -> Path:
    """Write the zip atomically, with fixed timestamps so the same sources give the same bytes."""
    output = Path(output)
    with atomic_file(output) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".yaml", ".json", ".txt"):
                    info = zipfile.ZipInfo(str(path.relative_to(ROOT)), _EPOCH)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs.dist", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="dist/teleflm.zip", help="zip to write")
    args = parser.parse_args(argv)
    print(build_zip(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
