"""Reading YAML files safely, with one-line errors and duplicate keys rejected.

Search-space files and training configurations are both read here. PyYAML's ``safe_load``
keeps the last value of a key that appears twice in a mapping, so a typo that repeats a key
silently drops a setting. This loader rejects it instead. Every problem (a missing or
undecodable file, a syntax error, a repeated key) raises the caller's error class with a single
line that names the file, the line and the column.

Example:
    >>> from acgan_search.errors import SearchSpaceError
    >>> load_yaml_file("search_spaces/smoke.yaml", SearchSpaceError, "search-space file")["name"]
    'smoke'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from acgan_search.errors import ACGANSearchError


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping in the YAML document repeats a key."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises ``DuplicateKeyError`` on a repeated mapping key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # Keys written beside a merge key (<<) may override merged ones.
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # An unhashable key; the base class reports it.
            if first is not None:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key!r} (first set on line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml_file(path: str | os.PathLike, error_class: type[ACGANSearchError], kind: str) -> Any:
    """Read one YAML document from a file with PyYAML's safe constructors.

    Args:
        path: The file.
        error_class: The project error raised on every problem, e.g. ``SearchSpaceError``.
        kind: The kind of file, for messages, e.g. ``"search-space file"``.

    Returns:
        The document: a mapping, list or scalar, or None for an empty file.

    Raises:
        error_class: The file is missing, unreadable, not UTF-8, not valid YAML, or a mapping in
            it repeats a key. The message is one line naming the file and, for YAML problems,
            the line and column (both counted from 1).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_class(f"{kind.capitalize()} not found: {path}. Pass the path of a YAML file.") from None
    except IsADirectoryError:
        raise error_class(f"{kind.capitalize()} {path} is a directory. Pass the path of a YAML file.") from None
    except UnicodeDecodeError as error:
        raise error_class(
            f"{path}: the {kind} is not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset {error.start} "
            f"cannot be decoded. Save the file as UTF-8."
        ) from None
    except OSError as error:
        raise error_class(f"Cannot read {kind} {path}: {error.strerror or error}.") from None
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)
    except DuplicateKeyError as error:
        raise error_class(
            f"{path}{_position(error.problem_mark)}: {error.problem}. Keep one entry per key in each mapping."
        ) from None
    except yaml.MarkedYAMLError as error:
        raise error_class(f"{path}{_position(error.problem_mark)}: invalid YAML: {_problem(error)}.") from None
    except yaml.YAMLError as error:
        raise error_class(f"{path}: invalid YAML: {' '.join(str(error).split())}.") from None


def _position(mark: yaml.Mark | None) -> str:
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _problem(error: yaml.MarkedYAMLError) -> str:
    """Return the parser's problem and its context as one line, e.g. ``expected ',' or ']'``."""
    parts = [error.problem or "syntax error"]
    if error.context:
        parts.append(error.context)
    return " ".join(" ".join(parts).split())
