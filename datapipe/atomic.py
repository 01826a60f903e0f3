"""Outputs that appear whole or not at all, for the programs that run outside Spark.

``staged_directory`` gives a temporary directory beside the output; when the block completes, it
replaces the output (an old output is removed only once the new one is in place), and when the block
fails, it is removed, so a killed or failed run never leaves a directory that looks complete.
``write_files`` replaces single files the same way (temp file in the same directory, then rename).
Spark stages have their own committer (``jobs.common.commit_stage``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_directory(output: str | os.PathLike) -> Iterator[Path]:
    """``with staged_directory(out) as tmp:`` write everything into ``tmp``; it becomes ``out`` at the end."""
    output = Path(output).absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f"{output.name}._tmp-{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        yield tmp
        trash = None
        if output.exists():
            trash = output.with_name(f"{output.name}._old-{uuid.uuid4().hex[:12]}")
            os.replace(output, trash)
        os.replace(tmp, output)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_files(out_dir: str | os.PathLike, files: dict[str, str | bytes]) -> None:
    """Write each file to a temporary name in ``out_dir``, then rename it over the old one."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, out_dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
