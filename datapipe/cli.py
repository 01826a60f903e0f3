"""The shape every command line of the project shares: a bad config, input or checkpoint is one line on
stderr and exit code 2, never a traceback; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from .config import ConfigError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main_of(run: Callable[[list[str] | None], Any], *errors: type[Exception], logs: bool = False) -> Callable[[list[str] | None], int]:
    """``main(argv)`` for ``run(argv)``: the exit code ``run`` returns when it is an int (a check that
    failed), else 0; 2 with ``error: <message>`` for a ``ConfigError`` or one of ``errors``. ``logs``
    sets up INFO logging first."""

    def main(argv: list[str] | None = None) -> int:
        if logs:
            logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
            logging.getLogger("py4j").setLevel(logging.WARNING)
        try:
            code = run(argv)
        except (ConfigError, *errors) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return code if isinstance(code, int) else 0

    return main
