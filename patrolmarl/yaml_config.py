"""Reading YAML files into validated pydantic models, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from patrolmarl.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


class FieldError(ValueError):
    """Raised inside a model validator to point at a field other than the one validated."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; :class:`ConfigError` if unreadable or not a mapping."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read file ({exc.__class__.__name__})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(source, "", f"malformed YAML: {where}{problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(source, "", "expected a mapping of fields at the top level")
    return raw


def validate_mapping(model: type[ModelT], raw: dict[str, Any], source: str) -> ModelT:
    """Validate ``raw`` as ``model``; the first problem becomes a one-line :class:`ConfigError`."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, FieldError):
            raise ConfigError(source, ctx_error.field, ctx_error.reason) from None
        field = ".".join(str(p) for p in err["loc"])
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        raise ConfigError(source, field, reason) from None
