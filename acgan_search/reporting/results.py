"""Reading a Ray Tune experiment directory into pandas DataFrames, without a running Ray.

The search stores, under ``<storage>/<name>/``:

- ``experiment_state-<date>.json``: Ray's experiment state. Its ``trial_data`` entries are
  pairs of JSON strings; the first contains the trial's ``trial_id``, ``status``
  (PENDING, RUNNING, PAUSED, TERMINATED, ERROR) and ``relative_logdir``. Only the JSON fields
  are read; the hex-encoded cloudpickle blobs inside are never unpickled.
- one directory per trial with ``params.json`` (the trial's configuration), ``result.json``
  (one JSON object per reported interval) and ``checkpoint_XXXXXX/`` directories.
- ``acgan_search.json``: the search's own record of the resolved search space, objectives,
  dataset, budget, evaluator and software versions.

Every file is read as it is on disk, so a finished, an interrupted or a still-running search
and a directory copied from a cluster all load the same way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.errors import ResultsError

logger = logging.getLogger(__name__)

SEARCH_RECORD_FILE = "acgan_search.json"
EXPERIMENT_STATE_GLOB = "experiment_state-*.json"

# Status of a trial as the report shows it.
COMPLETED = "completed"
STOPPED_EARLY = "stopped early"  # Terminated by the scheduler before the maximum steps.
DIVERGED = "diverged"  # Reported the DIVERGED flag: losses or metrics became NaN or infinite.
FAILED = "failed"  # Ray marked the trial ERROR (an exception, retries exhausted).
RUNNING = "running"
PENDING = "pending"
PAUSED = "paused"
UNKNOWN = "unknown"  # No experiment state names the trial (e.g. a partial copy).

TRIAL_ID = "trial_id"
TRIAL_DIR = "trial_dir"
RAY_STATUS = "ray_status"
STATUS = "status"
CHECKPOINT_PATH = "checkpoint_path"
WALL_TIME = "time_total_s"  # Ray's key: seconds of training in the trial so far.

# Keys Ray adds to every result row; they are bookkeeping, not metrics.
_RAY_BOOKKEEPING_KEYS = {
    "config", "timestamp", "should_checkpoint", "done", "training_iteration", "date",
    "time_this_iter_s", "pid", "hostname", "node_ip", "time_since_restore",
    "iterations_since_restore", "experiment_tag", "checkpoint_dir_name",
}


@dataclasses.dataclass(frozen=True)
class SearchResults:
    """Everything stored about one search, as tables.

    Attributes:
        experiment_dir: The Ray Tune experiment directory that was read.
        trials: One row per trial, indexed by position, with columns ``trial_id``, ``status``
            (one of the status constants of this module), ``ray_status``, ``trial_dir``,
            ``steps_trained``, ``time_total_s`` and one column per searched parameter.
        history: One row per reported interval with ``trial_id``, ``step``, every reported
            metric, ``time_total_s`` and ``checkpoint_path`` (None when the interval's
            checkpoint is not on disk).
        record: The contents of ``acgan_search.json``, or an empty dict when it is missing.
        searched_params: Names of the searched parameters, in search-space order.
        max_steps: Training steps a trial runs when no scheduler stops it, or None if unknown.
    """

    experiment_dir: Path
    trials: pd.DataFrame
    history: pd.DataFrame
    record: dict[str, Any]
    searched_params: list[str]
    max_steps: int | None

    @property
    def has_finished_interval(self) -> bool:
        """Whether at least one trial reported at least one evaluation interval."""
        return not self.history.empty

    def trial_ids(self) -> list[str]:
        """Return the trial IDs in the order Ray created the trials."""
        return list(self.trials[TRIAL_ID])


def load_search_results(experiment_dir: str | Path) -> SearchResults:
    """Read a Ray Tune experiment directory written by ``python -m acgan_search.run``.

    Args:
        experiment_dir: ``<storage>/<experiment name>``, the directory that contains Ray's
            ``experiment_state-*.json`` and the trial directories.

    Returns:
        The trials, their reported intervals and the search record.

    Raises:
        ResultsError: The directory does not exist or contains neither an experiment state nor
            trial directories.
    """
    experiment_dir = Path(experiment_dir)
    if not experiment_dir.is_dir():
        raise ResultsError(
            f"Search results directory not found. Received: results_dir={str(experiment_dir)!r}. "
            "Pass the experiment directory that `python -m acgan_search.run` printed at the end."
        )

    states = _read_experiment_state(experiment_dir)
    trial_dirs = _find_trial_dirs(experiment_dir)
    if not states and not trial_dirs:
        raise ResultsError(_no_results_message(experiment_dir))

    record = _read_search_record(experiment_dir)
    trial_rows = []
    history_frames = []
    state_dirs = {state["dir"] for state in states.values() if state["dir"] is not None}
    for trial_dir in sorted(set(trial_dirs) | state_dirs):
        trial_row, history_frame = _read_trial(trial_dir, _state_for_dir(states, trial_dir))
        trial_rows.append(trial_row)
        history_frames.append(history_frame)

    # Trials Ray created but that never got a directory (still pending).
    known_ids = {row[TRIAL_ID] for row in trial_rows}
    for state in states.values():
        if state["trial_id"] not in known_ids:
            trial_rows.append(
                {TRIAL_ID: state["trial_id"], RAY_STATUS: state["status"], TRIAL_DIR: None, "params": state["config"]}
            )

    history = _concat_history(history_frames)
    searched = _searched_param_names(record, [row["params"] for row in trial_rows])
    max_steps = _max_steps(record, [row["params"] for row in trial_rows])
    trials = _build_trials_table(trial_rows, history, searched, max_steps)
    logger.info(
        "Read %d trials and %d reported intervals from %s", len(trials), len(history), experiment_dir
    )
    return SearchResults(
        experiment_dir=experiment_dir,
        trials=trials,
        history=history,
        record=record,
        searched_params=searched,
        max_steps=max_steps,
    )


# ------------------------------------------------------------------ Ray's files


def _read_experiment_state(experiment_dir: Path) -> dict[str, dict[str, Any]]:
    """Map trial ID to its status, directory and configuration from the newest state file."""
    state_files = sorted(experiment_dir.glob(EXPERIMENT_STATE_GLOB))
    if not state_files:
        return {}
    # The file name carries the session start time, so the last name is the newest session.
    state_file = state_files[-1]
    try:
        content = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        # Ray rewrites this file while a search runs; a torn read loses only the statuses.
        logger.warning("Cannot read Ray's experiment state %s (%s); trial statuses are inferred", state_file, error)
        return {}
    states = {}
    for entry in content.get("trial_data", []):
        try:
            trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
            runtime = json.loads(entry[1]) if isinstance(entry[1], str) else entry[1]
        except (IndexError, TypeError, json.JSONDecodeError):
            logger.warning("Skipping an unreadable trial entry in %s", state_file)
            continue
        relative = trial.get("relative_logdir")
        states[trial["trial_id"]] = {
            "trial_id": trial["trial_id"],
            "status": trial.get("status", UNKNOWN.upper()),
            "dir": experiment_dir / relative if relative and (experiment_dir / relative).is_dir() else None,
            "config": trial.get("config") if isinstance(trial.get("config"), dict) else {},
            "error_file": runtime.get("error_filename") if isinstance(runtime, dict) else None,
        }
    return states


def _find_trial_dirs(experiment_dir: Path) -> list[Path]:
    return [
        child
        for child in experiment_dir.iterdir()
        if child.is_dir() and ((child / "result.json").exists() or (child / "params.json").exists())
    ]


def _read_trial(trial_dir: Path, state: dict[str, Any] | None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read one trial directory into its trials-table entry and its reported intervals."""
    state = state or {}
    rows = _read_result_rows(trial_dir)
    trial_id = state.get("trial_id") or (rows[0].get(TRIAL_ID) if rows else None)
    trial_id = trial_id or _trial_id_from_dir_name(trial_dir.name)
    trial_row = {
        TRIAL_ID: trial_id,
        RAY_STATUS: state.get("status", UNKNOWN.upper()),
        TRIAL_DIR: str(trial_dir),
        "params": _read_params(trial_dir) or state.get("config") or {},
    }
    return trial_row, _rows_to_history(trial_id, trial_dir, rows)


def _state_for_dir(states: dict[str, dict[str, Any]], trial_dir: Path) -> dict[str, Any] | None:
    for state in states.values():
        if state["dir"] is not None and state["dir"] == trial_dir:
            return state
    return None


def _trial_id_from_dir_name(name: str) -> str:
    # Ray names trial directories <trainable>_<experiment id>_<index>_<tag>_<date>; the trial ID
    # is "<experiment id>_<index zero-padded>". Fall back to the whole name.
    parts = name.split("_")
    for index in range(len(parts) - 1):
        if len(parts[index + 1]) == 5 and parts[index + 1].isdigit():
            return f"{parts[index]}_{parts[index + 1]}"
    return name


def _read_params(trial_dir: Path) -> dict[str, Any]:
    path = trial_dir / "params.json"
    if not path.exists():
        return {}
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("Cannot read %s (%s); the trial's parameters are taken from Ray's state", path, error)
        return {}
    return params if isinstance(params, dict) else {}


def _read_result_rows(trial_dir: Path) -> list[dict[str, Any]]:
    path = trial_dir / "result.json"
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            # A running trial may be writing its last line right now.
            if number == len(lines):
                logger.warning("Ignoring the incomplete last line of %s", path)
            else:
                logger.warning("Ignoring unreadable line %d of %s", number, path)
    return rows


def _rows_to_history(trial_id: str, trial_dir: Path, rows: list[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for row in rows:
        record = {key: value for key, value in row.items() if key not in _RAY_BOOKKEEPING_KEYS}
        record[TRIAL_ID] = trial_id
        checkpoint_name = row.get("checkpoint_dir_name")
        checkpoint = trial_dir / checkpoint_name if checkpoint_name else None
        record[CHECKPOINT_PATH] = str(checkpoint) if checkpoint is not None and checkpoint.is_dir() else None
        records.append(record)
    return pd.DataFrame.from_records(records)


def _concat_history(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=[TRIAL_ID, mn.STEP, CHECKPOINT_PATH])
    history = pd.concat(frames, ignore_index=True)
    if mn.STEP not in history.columns:
        history[mn.STEP] = pd.NA
    else:
        # A trial restored from a checkpoint reports the intervals after it again; keep the
        # newest report of each step.
        history = history.drop_duplicates(subset=[TRIAL_ID, mn.STEP], keep="last").reset_index(drop=True)
    if mn.DIVERGED not in history.columns:
        history[mn.DIVERGED] = 0.0
    history[mn.DIVERGED] = history[mn.DIVERGED].fillna(0.0)
    return history


# ------------------------------------------------------------------ the search record


def _read_search_record(experiment_dir: Path) -> dict[str, Any]:
    path = experiment_dir / SEARCH_RECORD_FILE
    if not path.exists():
        logger.warning(
            "%s has no %s: objectives default to minimising FID and the evaluator, dataset and "
            "software versions are not shown",
            experiment_dir,
            SEARCH_RECORD_FILE,
        )
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(
            f"The search record {path} is not valid JSON: {error}. "
            "Restore it from the search's storage, or delete it to report without it."
        ) from None
    return record if isinstance(record, dict) else {}


def _searched_param_names(record: dict[str, Any], params: list[dict[str, Any]]) -> list[str]:
    space = record.get("search_space") or record.get("parameters")
    if isinstance(space, dict) and space:
        names = space.get("parameters", space) if isinstance(space.get("parameters"), dict) else space
        return [str(name) for name in names]
    if isinstance(space, list) and space:
        return [str(item["name"]) for item in space if isinstance(item, dict) and "name" in item]
    # Without a record, a parameter counts as searched when trials disagree on it.
    keys: list[str] = []
    for entry in params:
        keys.extend(key for key in entry if key not in keys)
    return [
        key for key in keys
        if len({json.dumps(entry.get(key), sort_keys=True, default=str) for entry in params}) > 1
    ]


def _max_steps(record: dict[str, Any], params: list[dict[str, Any]]) -> int | None:
    budget = record.get("budget")
    if isinstance(budget, dict) and budget.get("max_steps"):
        return int(budget["max_steps"])
    if record.get("max_steps"):
        return int(record["max_steps"])
    values = {entry.get("max_steps") for entry in params if isinstance(entry.get("max_steps"), int)}
    return max(values) if values else None


# ------------------------------------------------------------------ the trials table


def _build_trials_table(
    trial_rows: list[dict[str, Any]], history: pd.DataFrame, searched: list[str], max_steps: int | None
) -> pd.DataFrame:
    records = []
    for row in trial_rows:
        trial_history = history[history[TRIAL_ID] == row[TRIAL_ID]] if not history.empty else history
        steps = _last_finite(trial_history, mn.STEP)
        wall_time = _last_finite(trial_history, WALL_TIME)
        diverged = bool(not trial_history.empty and (trial_history[mn.DIVERGED] >= 0.5).any())
        record = {
            TRIAL_ID: row[TRIAL_ID],
            STATUS: trial_status(row[RAY_STATUS], diverged, steps, max_steps),
            RAY_STATUS: row[RAY_STATUS],
            "steps_trained": int(steps) if steps is not None else 0,
            WALL_TIME: wall_time,
            "intervals": len(trial_history),
            TRIAL_DIR: row[TRIAL_DIR],
        }
        for name in searched:
            record[name] = row["params"].get(name)
        records.append(record)
    return pd.DataFrame.from_records(records)


def trial_status(ray_status: str, diverged: bool, steps_trained: float | None, max_steps: int | None) -> str:
    """Classify a trial from Ray's status and what it reported.

    Args:
        ray_status: Ray's trial status (TERMINATED, ERROR, RUNNING, PENDING, PAUSED), or
            UNKNOWN when no experiment state names the trial.
        diverged: Whether any reported interval carried DIVERGED = 1.
        steps_trained: Step of the last reported interval, or None.
        max_steps: The budget's maximum steps per trial, or None if unknown.

    Returns:
        ``diverged`` takes precedence, then ``failed`` (Ray status ERROR); a terminated trial
        is ``completed`` when it reached ``max_steps`` and ``stopped early`` otherwise.
    """
    if diverged:
        return DIVERGED
    if ray_status == "ERROR":
        return FAILED
    if ray_status in ("TERMINATED", UNKNOWN.upper()):
        if max_steps is None or steps_trained is None:
            return COMPLETED if ray_status == "TERMINATED" else UNKNOWN
        if steps_trained >= max_steps:
            return COMPLETED
        return STOPPED_EARLY if ray_status == "TERMINATED" else UNKNOWN
    return {"RUNNING": RUNNING, "PENDING": PENDING, "PAUSED": PAUSED}.get(ray_status, UNKNOWN)


def _last_finite(frame: pd.DataFrame, column: str) -> float | None:
    if frame.empty or column not in frame.columns:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    values = values[values.map(math.isfinite)]
    return float(values.iloc[-1]) if not values.empty else None


def _no_results_message(experiment_dir: Path) -> str:
    candidates = sorted(
        child.name for child in experiment_dir.iterdir()
        if child.is_dir() and any(child.glob(EXPERIMENT_STATE_GLOB))
    )
    hint = (
        f" It contains these experiment directories: {', '.join(candidates)}; pass one of them."
        if candidates
        else " Pass the experiment directory that `python -m acgan_search.run` printed at the end."
    )
    return (
        f"No search results in {experiment_dir}: expected Ray's {EXPERIMENT_STATE_GLOB} or trial "
        f"directories with result.json. Received: results_dir={str(experiment_dir)!r}.{hint}"
    )
