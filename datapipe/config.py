"""Typed, validated stage configs loaded from YAML.

Every stage config is a pydantic model that forbids unknown keys; ``load_config`` turns a YAML file
into one and reports a bad value with the file, the dotted key and the reason.
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
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "<root>"
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            lines.append(f"  {key}: {err['msg']}{got}")
        raise ConfigError(f"{path}: invalid config\n" + "\n".join(lines)) from None
