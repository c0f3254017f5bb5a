"""Tests of what every command-line parser shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from acgan_search import evaluate, export, report, run, sample, train

# Each parser with valid positional arguments and a prefix of one of its long options.
PREFIX_CASES = [
    (run.parse_arguments, ["space.yaml", "--resum"], "--resum"),
    (train.parse_args, ["config.yaml", "--out", "out", "--log-lev", "INFO"], "--log-lev"),
    (evaluate.parse_args, ["run_dir", "--evaluator-s", "1"], "--evaluator-s"),
    (report.parse_args, ["results", "--overwr"], "--overwr"),
    (export.parse_args, ["results", "--out", "bundle", "--overwr"], "--overwr"),
    (sample.parse_args, ["bundle", "--label", "1", "--out", "x.png", "--overwr"], "--overwr"),
]


@pytest.mark.parametrize(("parse", "argv", "prefix"), PREFIX_CASES)
def test_parser_rejects_option_prefix(
    capsys: pytest.CaptureFixture[str], parse: Callable[[list[str]], argparse.Namespace], argv: list[str], prefix: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {prefix}" in capsys.readouterr().err
