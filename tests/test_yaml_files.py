"""Tests of the shared YAML loader: one-line errors, repeated keys, merge keys, file problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from acgan_search.errors import SearchSpaceError
from acgan_search.yaml_files import load_yaml_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml_file_reads_mapping(tmp_path: Path) -> None:
    assert load_yaml_file(write(tmp_path, "a: 1\nb: [x, y]\n"), SearchSpaceError, "file") == {"a": 1, "b": ["x", "y"]}


def test_load_yaml_file_empty_is_none(tmp_path: Path) -> None:
    assert load_yaml_file(write(tmp_path, ""), SearchSpaceError, "file") is None


def test_load_yaml_file_nested_duplicate_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "outer:\n  c: 1\n  c: 2\n")
    with pytest.raises(SearchSpaceError, match=r"file\.yaml:3:3: duplicate key 'c' \(first set on line 2\)"):
        load_yaml_file(path, SearchSpaceError, "file")


def test_same_key_in_two_mappings_accepted(tmp_path: Path) -> None:
    document = load_yaml_file(write(tmp_path, "a: {k: 1}\nb: {k: 2}\n"), SearchSpaceError, "file")
    assert document == {"a": {"k": 1}, "b": {"k": 2}}


def test_load_yaml_file_override_after_merge_key_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &base {k: 1, j: 3}\nchild:\n  <<: *base\n  k: 2\n")
    assert load_yaml_file(path, SearchSpaceError, "file")["child"] == {"k": 2, "j": 3}


def test_tab_indent_error_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n\t- 1\n")
    with pytest.raises(SearchSpaceError) as info:
        load_yaml_file(path, SearchSpaceError, "file")
    assert "\n" not in str(info.value)
    assert "file.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token" in str(info.value)


def test_load_yaml_file_python_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SearchSpaceError, match=r"file\.yaml:1:4: invalid YAML: could not determine a constructor"):
        load_yaml_file(path, SearchSpaceError, "file")


def test_load_yaml_file_missing_rejected(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match=r"^Search-space file not found: .*absent\.yaml"):
        load_yaml_file(tmp_path / "absent.yaml", SearchSpaceError, "search-space file")
