"""The shape every command line of the project shares: a bad config, input or checkpoint is one line on
stderr and exit code 2, never a traceback; a full disk is one line and exit code 1; anything else is a bug
and keeps its traceback."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from typing import Any

from .config import ConfigError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}


def full_disk(exc: BaseException) -> str | None:
    """The line that says a disk filled up, found along the exception's causes (a Spark job's Java causes
    come as text in its message), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return str(exc)
        for line in str(exc).splitlines():
            if any(text in line for text in _FULL.values()):
                return line.strip().removeprefix("Caused by: ")
        exc = exc.__cause__ or exc.__context__
    return None


def main_of(run: Callable[[list[str] | None], Any], *errors: type[Exception], logs: bool = False) -> Callable[[list[str] | None], int]:
    """``main(argv)`` for ``run(argv)``: the exit code ``run`` returns when it is an int (a check that
    failed), else 0; 2 with ``error: <message>`` for a ``ConfigError`` or one of ``errors``; 1 with the
    cause for a full disk (``full_disk``). ``logs`` sets up INFO logging first."""

    def main(argv: list[str] | None = None) -> int:
        if logs:
            logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
            logging.getLogger("py4j").setLevel(logging.WARNING)
        try:
            code = run(argv)
        except (ConfigError, *errors) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            cause = full_disk(exc)
            if cause is None:
                raise
            print(f"error: {cause}; free space and run again: what was written before is intact", file=sys.stderr)
            return 1
        return code if isinstance(code, int) else 0

    return main
