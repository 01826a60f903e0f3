"""Typed, validated stage configs loaded from YAML.

Every stage config is a pydantic model that forbids unknown keys; ``load_config`` turns a YAML file
into one and reports a bad value with the file, the dotted key and the reason. A setting that names a file
is checked right after loading (``require_existing``, ``load_named_config``), so that a command line stops
before any work with the key that is wrong (``datapipe.cli.main_of``: one line, exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def require_unique_names(items: list, what: str) -> list:
    """``items`` (with a ``name``) when no name repeats; else a ValueError naming the repeats."""
    names = [item.name for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} names must be unique: {dupes}")
    return items


class ConfigError(ValueError):
    """A config file is missing, unreadable or has a bad value; the message says where."""


def load_config(model: type[M], path: str | Path | None) -> M:
    """Load ``path`` (YAML) into ``model``; ``None`` gives the model's defaults."""
    if path is None:
        return model()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(path, exc, data) from None


def invalid(source: str | Path, exc: ValidationError, data: dict) -> ConfigError:
    """The error of a config ``data`` (from ``source``) that its model rejected: a line per bad key."""
    lines = []
    for err in exc.errors():
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        line = f"  {yaml_key(err['loc'], data)}: {err['msg']}{got}"
        if line not in lines:
            lines.append(line)
    return ConfigError(f"{source}: invalid config\n" + "\n".join(lines))


def yaml_key(loc: tuple, data: dict) -> str:
    """The dotted key of an error's location as the YAML spells it: pydantic puts the name of the union
    member it tried into the location (``sources.0.code.max_bytes``), which is no key of the file. A part
    that the data does not have is such a name, unless it is the last one of a mapping (a missing key)."""
    parts, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (isinstance(node, dict) and i == len(loc) - 1):
            continue
        parts.append(str(part))
    return ".".join(parts) or "<root>"


def require_existing(key: str, value: str | Path, source: str | Path | None = None, what: str = "path") -> None:
    """A setting that names input must name something that is there: checked right after the config is
    loaded, before any work, and reported as a bad value of ``key`` (of the config file ``source``).
    ``value`` may be any URI ``datapipe.io`` opens."""
    from datapipe import io

    if not io.exists(str(value)):
        raise ConfigError(f"{f'{source}: ' if source else ''}{key}: {what} not found: {value}")


def load_named_config(model: type[M], path: str | Path, key: str, source: str | Path | None = None) -> M:
    """The config file that setting ``key`` (of the config file ``source``) names, loaded into ``model``;
    an error says which setting led to it."""
    try:
        return load_config(model, path)
    except ConfigError as exc:
        raise ConfigError(f"{f'{source}: ' if source else ''}{key}: {exc}") from None
