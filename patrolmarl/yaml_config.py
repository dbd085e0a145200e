"""Reading YAML files into validated pydantic models, with one-line errors.

The YAML reader is strict: a key given twice, nesting deeper than
:data:`~patrolmarl.input_files.MAX_NESTING_DEPTH`, or aliases that expand past
:data:`MAX_YAML_NODES` are refused, and every YAML syntax error names
``file:line:column``. Numbers in exponent form without a dot (``3e-4``) are read
as numbers, as YAML 1.2 and JSON do (PyYAML's YAML 1.1 rules read them as strings).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from patrolmarl.errors import ConfigError, echo
from patrolmarl.input_files import MAX_NESTING_DEPTH, read_text

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Most YAML nodes a file may stand for once its aliases are expanded
#: (aliases of aliases can otherwise stand for billions of values).
MAX_YAML_NODES = 1_000_000

_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class FieldError(ValueError):
    """Raised inside a model validator to point at a field other than the one validated."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _YAMLRefused(yaml.MarkedYAMLError):
    """A YAML document this reader refuses (duplicate key, too deep), with its position."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class PositionedDict(dict):
    """A YAML mapping that remembers where in its file each key stands."""

    positions: dict[Any, yaml.Mark]

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        """A copy is plain data: its positions would point into a file it no longer is."""
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()}


# Written back out (yaml.safe_dump), it is the plain mapping it stands for.
yaml.SafeDumper.add_representer(PositionedDict, yaml.SafeDumper.represent_dict)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing duplicate keys and deep nesting; mappings keep their keys' positions."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING_DEPTH + 1:
                mark = self.peek_event().start_mark
                raise _YAMLRefused(f"nested more than {MAX_NESTING_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: construct_mapping below reports it
            if first is not key_node.start_mark:
                raise _YAMLRefused(
                    f"key {echo(key)} given twice (first at line {first.line + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)

    def construct_positioned_map(self, node: yaml.MappingNode):
        """Like SafeLoader's mappings, as a :class:`PositionedDict`."""
        data = PositionedDict()
        data.positions = {}
        yield data
        data.update(self.construct_mapping(node))
        for key_node, _ in node.value:
            key = self.construct_object(key_node)
            try:
                data.positions[key] = key_node.start_mark
            except TypeError:
                continue


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_positioned_map)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789")
)


def parse_yaml(text: str, source: str) -> Any:
    """The value of the YAML document ``text``; errors name ``source:line:column``."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(where, "", f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"malformed YAML: {exc}") from None
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a node graph that stands for more than :data:`MAX_YAML_NODES` values."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > MAX_YAML_NODES:
                raise _YAMLRefused(
                    f"the aliases expand to more than {MAX_YAML_NODES} values", node.start_mark
                )
            continue
        if id(node) in open_nodes:
            raise _YAMLRefused("an alias refers to the value that contains it", node.start_mark)
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise _YAMLRefused(
                    "an alias refers to the value that contains it", child.start_mark
                )
            stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; :class:`ConfigError` if unreadable or not a mapping."""
    source = str(path)
    raw = parse_yaml(read_text(path), source)
    if not isinstance(raw, dict):
        raise ConfigError(source, "", "expected a mapping of fields at the top level")
    return raw


def validate_mapping(model: type[ModelT], raw: dict[str, Any], source: str) -> ModelT:
    """Validate ``raw`` as ``model``; the first problem becomes a one-line :class:`ConfigError`.

    A missing field whose mapping also has unknown keys names them too (a misspelling).
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, FieldError):
            where = _position(raw, ctx_error.field.split("."), source)
            raise ConfigError(where, ctx_error.field, ctx_error.reason) from None
        field = ".".join(str(p) for p in err["loc"])
        where = _position(raw, [str(p) for p in err["loc"]], source)
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "missing"):
            reason = "unknown field" if err["type"] == "extra_forbidden" else reason
            other = "missing" if err["type"] == "extra_forbidden" else "extra_forbidden"
            sibling = _sibling(errors, err, other)
            if sibling is not None:
                what = "the missing field" if other == "missing" else "the unknown field"
                reason += f" ({what} is {echo(sibling)}: a misspelling?)"
        elif err["type"].endswith("_type") or err["type"] in ("finite_number", "literal_error"):
            reason += f", got {echo(err['input'])}"
        raise ConfigError(where, field, reason) from None


def _position(raw: Any, path: list[str], source: str) -> str:
    """``source:line:column`` of the deepest key of ``path`` found in the file, else ``source``.

    Values merged in from elsewhere (command-line overrides) carry no position.
    """
    mark = None
    node = raw
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict) or part not in node:
            break
        if isinstance(node, PositionedDict) and part in node.positions:
            mark = node.positions[part]
        node = node[part]
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


def _sibling(errors: list[dict[str, Any]], err: dict[str, Any], kind: str) -> str | None:
    """The key of the first ``kind`` error in the same mapping as ``err``, if any."""
    for other in errors:
        if other["type"] == kind and other["loc"][:-1] == err["loc"][:-1]:
            return str(other["loc"][-1])
    return None
