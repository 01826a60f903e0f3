"""Reading the sample's data files (``sample_corpus/data/``), each once.

The sample's text lives there as data: sentence templates and word lists, the fixed texts of the
non-web domain sources, page templates.  Files are read as bytes and decoded as UTF-8, so the sample's
output does not depend on the platform's newline or encoding defaults.  What these functions return
is cached and shared: callers must not modify it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

_SECTION_PREFIX, _SECTION_SUFFIX = "== ", " =="


@cache
def text(name: str) -> str:
    """The file ``data/<name>`` as text, exactly as stored."""
    return (files(__package__) / "data" / name).read_bytes().decode("utf-8")


@cache
def yaml_data(name: str) -> Any:
    return yaml.safe_load(text(name))


@cache
def json_data(name: str) -> Any:
    return json.loads(text(name))


@cache
def sections(name: str) -> dict[str, tuple[str, ...]]:
    return parse_sections(text(name), f"data/{name}")


def parse_sections(content: str, source: str = "text") -> dict[str, tuple[str, ...]]:
    """A sectioned text file: ``== title ==`` opens a section, every other line is one entry of it
    (stripped); blank lines and lines starting with ``#`` are skipped.  Sections keep the file's order."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in content.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(_SECTION_PREFIX) and line.endswith(_SECTION_SUFFIX):
            current = out.setdefault(line[len(_SECTION_PREFIX):-len(_SECTION_SUFFIX)], [])
        elif current is None:
            raise ValueError(f"{source}: {line!r} comes before the first section")
        else:
            current.append(line)
    return {title: tuple(lines) for title, lines in out.items()}
