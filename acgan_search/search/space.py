"""Search-space files: the YAML format, its parser and its validation against ``TrainConfig``.

A search-space file describes one experiment: its name, the dataset, the budget, the objective,
the Optuna sampler, the ASHA scheduler, the resources per trial, the training settings held
fixed and the training settings to search. ``docs/search.md`` documents every key. Files are
read with PyYAML's safe loader, rejecting repeated keys, and checked completely before anything starts: every error names
the file, the key and the value received.

Example:
    >>> space = load_search_space("search_spaces/weights.yaml")
    >>> space.base_config().max_steps
    1500
    >>> space.training_config({"class_weight_start": 1.0}).class_weight_start
    1.0
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import itertools
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

from acgan_search import metric_names
from acgan_search.config import DATASET_NAMES, FIELD_NAMES, MAX_SEED, TrainConfig, field_allows_none, field_type
from acgan_search.errors import ConfigError, SearchSpaceError
from acgan_search.yaml_files import load_yaml_file

UNIFORM = "uniform"
LOG_UNIFORM = "log_uniform"
INT = "int"
CATEGORICAL = "categorical"
DISTRIBUTIONS = (UNIFORM, LOG_UNIFORM, INT, CATEGORICAL)

SAMPLERS = ("tpe", "random", "cmaes", "nsga2")
SCHEDULERS = ("asha", "none")

# Metrics an objective may name, with the direction that is better.
OBJECTIVE_MODES = {
    metric_names.FID: "min",
    metric_names.INTRA_FID: "min",
    metric_names.CLASS_ACCURACY: "max",
    metric_names.CLASS_ENTROPY: "max",
}

# TrainConfig fields the file sets outside ``fixed`` and ``parameters``.
RESERVED_FIELDS = {"dataset": "dataset", "max_steps": "budget.max_steps", "interval": "budget.interval"}

_TOP_LEVEL_KEYS = (
    "name",
    "dataset",
    "budget",
    "objective",
    "evaluation",
    "searcher",
    "scheduler",
    "resources",
    "failures",
    "report",
    "fixed",
    "parameters",
)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One searched training setting and its distribution.

    Attributes:
        name: The ``TrainConfig`` field this parameter sets.
        distribution: One of ``uniform``, ``log_uniform``, ``int`` or ``categorical``.
        low: Lower bound (inclusive) for numeric distributions, else None.
        high: Upper bound (inclusive) for numeric distributions, else None.
        step: Grid step of an ``int`` distribution (1 when not given), else None.
        log: Whether an ``int`` distribution samples on a log scale.
        choices: Values of a ``categorical`` distribution, else None.
        condition: Name of a boolean switch; the parameter is sampled only in trials where that
            switch is on, and keeps its fixed or default value otherwise. None when unconditional.
    """

    name: str
    distribution: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    condition: str | None = None

    def candidate_values(self) -> tuple[Any, ...]:
        """Return the values at the edges of the distribution: both bounds, or every choice."""
        if self.distribution == CATEGORICAL:
            return tuple(self.choices or ())
        return (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameter in the file's own layout, leaving out unset keys."""
        values: dict[str, Any] = {"distribution": self.distribution}
        if self.distribution == CATEGORICAL:
            values["choices"] = list(self.choices or ())
        else:
            values["low"] = self.low
            values["high"] = self.high
        if self.distribution == INT:
            values["step"] = self.step
            values["log"] = self.log
        if self.condition is not None:
            values["condition"] = self.condition
        return values


@dataclasses.dataclass(frozen=True)
class SchedulerSettings:
    """ASHA settings. Times count training steps, the ``step`` value every result carries.

    Attributes:
        metric: Metric ASHA compares; the first objective unless the file names another.
        mode: ``min`` or ``max`` for that metric.
        grace_period: Steps every trial trains before it can be stopped.
        reduction_factor: Fraction ``1 / reduction_factor`` of the trials continues at each rung.
        brackets: Number of ASHA brackets.
    """

    metric: str
    mode: str
    grace_period: int
    reduction_factor: float
    brackets: int


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A validated search-space file.

    Attributes:
        path: The file it was read from.
        name: Experiment name, the directory under the storage path; fixed so a search resumes.
        dataset: Dataset registry name.
        num_trials: Number of trials Optuna samples.
        max_steps: Training steps of a trial that is never stopped early.
        interval: Steps between evaluations, checkpoints and reported results.
        metrics: Objective metrics, one or two.
        modes: ``min`` or ``max`` for each objective metric.
        samples_per_class: Generated images per class in every evaluation.
        evaluation_seed: Seed of the noise used in every evaluation, the same for all trials.
        sampler: Optuna sampler name, one of ``SAMPLERS``.
        sampler_seed: Seed of the sampler.
        sampler_options: Extra keyword arguments of the sampler's constructor.
        scheduler: ASHA settings, or None to train every trial to ``max_steps``.
        cpus_per_trial: CPUs reserved per trial; TensorFlow's thread pools get this many threads.
        gpus_per_trial: GPUs reserved per trial, fractional values allowed.
        max_concurrent_trials: Trials running at once, or None to fill the cluster.
        max_failures: Times a failed trial is retried from its last checkpoint.
        top_k: Trials listed in the ranking printed at the end.
        fixed: Training settings held constant across trials.
        parameters: The searched settings, switches before the parameters conditioned on them.
    """

    path: Path
    name: str
    dataset: str
    num_trials: int
    max_steps: int
    interval: int
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    samples_per_class: int
    evaluation_seed: int
    sampler: str
    sampler_seed: int | None
    sampler_options: Mapping[str, Any]
    scheduler: SchedulerSettings | None
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent_trials: int | None
    max_failures: int
    top_k: int
    fixed: Mapping[str, Any]
    parameters: tuple[Parameter, ...]

    @property
    def is_multi_objective(self) -> bool:
        """Whether the search optimises more than one metric."""
        return len(self.metrics) > 1

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the searched settings, in sampling order."""
        return tuple(parameter.name for parameter in self.parameters)

    def base_config(self) -> TrainConfig:
        """Return the training configuration every trial starts from, before sampling."""
        return TrainConfig.from_dict(
            {**self.fixed, "dataset": self.dataset, "max_steps": self.max_steps, "interval": self.interval},
            source=str(self.path),
        )

    def training_config(self, sampled: Mapping[str, Any]) -> TrainConfig:
        """Return the training configuration of one trial.

        Args:
            sampled: The values a searcher chose, keyed by parameter name. Conditional
                parameters whose switch was off may be absent.

        Raises:
            ConfigError: A key is not a training setting, or the combination is invalid.
        """
        return self.base_config().replace(**dict(sampled))

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved search space in the file's layout, with every default filled in."""
        scheduler: dict[str, Any] | str = "none"
        if self.scheduler is not None:
            scheduler = {"type": "asha", **dataclasses.asdict(self.scheduler)}
        return {
            "name": self.name,
            "dataset": self.dataset,
            "budget": {"num_trials": self.num_trials, "max_steps": self.max_steps, "interval": self.interval},
            "objective": {"metrics": list(self.metrics), "modes": list(self.modes)},
            "evaluation": {"samples_per_class": self.samples_per_class, "seed": self.evaluation_seed},
            "searcher": {"sampler": self.sampler, "seed": self.sampler_seed, "options": dict(self.sampler_options)},
            "scheduler": scheduler,
            "resources": {
                "cpus_per_trial": self.cpus_per_trial,
                "gpus_per_trial": self.gpus_per_trial,
                "max_concurrent_trials": self.max_concurrent_trials,
            },
            "failures": {"max_failures": self.max_failures},
            "report": {"top_k": self.top_k},
            "fixed": dict(self.fixed),
            "parameters": {parameter.name: parameter.to_dict() for parameter in self.parameters},
        }


# -------------------------------------------------------------------- loading


def load_search_space(path: str | os.PathLike) -> SearchSpace:
    """Read and validate a search-space YAML file.

    Args:
        path: The YAML file.

    Returns:
        The validated search space.

    Raises:
        SearchSpaceError: The file is missing, not UTF-8 or not valid YAML, a mapping repeats
            a key, a key is unknown, a value has
            the wrong type or range, a parameter is not a training setting or its distribution
            does not fit the setting's type, or a condition names a switch that is never on.
            The message names the file, the key and the value received.
    """
    path = Path(path)
    document = load_yaml_file(path, SearchSpaceError, "search-space file")
    return parse_search_space(document, path=path)


def parse_search_space(document: Any, *, path: str | os.PathLike = "<search space>") -> SearchSpace:
    """Validate a search space already read from YAML; ``load_search_space`` reads the file.

    Args:
        document: The YAML document as ``load_yaml_file`` returned it.
        path: Where the document came from, used in error messages.

    Raises:
        SearchSpaceError: As described in ``load_search_space``.
    """
    reader = _Reader(Path(path))
    document = reader.mapping(document, "<top level>")
    reader.reject_unknown(document, _TOP_LEVEL_KEYS, "")

    name = reader.string(document.get("name"), "name", required=True)
    if not _NAME_PATTERN.match(name):
        reader.fail("name", name, "must be a directory name: letters, digits, '.', '_' and '-'")
    dataset = reader.string(document.get("dataset", "mnist-5k"), "dataset")
    if dataset not in DATASET_NAMES:
        reader.fail("dataset", dataset, f"must be one of {', '.join(DATASET_NAMES)}")

    budget = reader.section(document, "budget", ("num_trials", "max_steps", "interval"), required=True)
    num_trials = reader.integer(budget.get("num_trials"), "budget.num_trials", minimum=1, required=True)
    max_steps = reader.integer(budget.get("max_steps"), "budget.max_steps", minimum=1, required=True)
    interval = reader.integer(budget.get("interval"), "budget.interval", minimum=1, required=True)
    if interval > max_steps:
        reader.fail("budget.interval", interval, f"must be at most budget.max_steps={max_steps}")

    metrics, modes = _parse_objective(reader, document.get("objective", metric_names.FID))

    evaluation = reader.section(document, "evaluation", ("samples_per_class", "seed"))
    samples_per_class = reader.integer(
        evaluation.get("samples_per_class", 100), "evaluation.samples_per_class", minimum=1
    )
    evaluation_seed = reader.integer(evaluation.get("seed", 0), "evaluation.seed", minimum=0, maximum=MAX_SEED)

    sampler, sampler_seed, sampler_options = _parse_searcher(reader, document, len(metrics))
    scheduler = _parse_scheduler(reader, document, metrics, modes, max_steps)

    resources = reader.section(document, "resources", ("cpus_per_trial", "gpus_per_trial", "max_concurrent_trials"))
    cpus_per_trial = reader.number(resources.get("cpus_per_trial", 1), "resources.cpus_per_trial")
    if cpus_per_trial <= 0:
        reader.fail("resources.cpus_per_trial", cpus_per_trial, "must be > 0")
    gpus_per_trial = reader.number(resources.get("gpus_per_trial", 0), "resources.gpus_per_trial")
    if gpus_per_trial < 0:
        reader.fail("resources.gpus_per_trial", gpus_per_trial, "must be >= 0")
    max_concurrent = resources.get("max_concurrent_trials")
    if max_concurrent is not None:
        max_concurrent = reader.integer(max_concurrent, "resources.max_concurrent_trials", minimum=1)

    failures = reader.section(document, "failures", ("max_failures",))
    max_failures = reader.integer(failures.get("max_failures", 2), "failures.max_failures", minimum=0)
    report = reader.section(document, "report", ("top_k",))
    top_k = reader.integer(report.get("top_k", 5), "report.top_k", minimum=1)

    fixed = _parse_fixed(reader, document.get("fixed"), dataset, max_steps, interval)
    parameters = _parse_parameters(reader, document.get("parameters"), fixed)

    space = SearchSpace(
        path=reader.path,
        name=name,
        dataset=dataset,
        num_trials=num_trials,
        max_steps=max_steps,
        interval=interval,
        metrics=metrics,
        modes=modes,
        samples_per_class=samples_per_class,
        evaluation_seed=evaluation_seed,
        sampler=sampler,
        sampler_seed=sampler_seed,
        sampler_options=sampler_options,
        scheduler=scheduler,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent_trials=max_concurrent,
        max_failures=max_failures,
        top_k=top_k,
        fixed=fixed,
        parameters=parameters,
    )
    _check_combinations(reader, space)
    return space


# -------------------------------------------------------------------- sections


def _parse_objective(reader: _Reader, value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(value, str):
        value = {"metrics": [value]}
    elif isinstance(value, list):
        value = {"metrics": value}
    objective = reader.mapping(value, "objective")
    reader.reject_unknown(objective, ("metrics", "modes"), "objective")
    metrics = objective.get("metrics")
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= 2:
        reader.fail("objective.metrics", metrics, "must be a list of one or two metric names")
    for metric in metrics:
        if metric not in OBJECTIVE_MODES:
            reader.fail("objective.metrics", metric, f"must name one of {', '.join(OBJECTIVE_MODES)}")
    if len(set(metrics)) != len(metrics):
        reader.fail("objective.metrics", metrics, "must not repeat a metric")
    modes = objective.get("modes", [OBJECTIVE_MODES[metric] for metric in metrics])
    if not isinstance(modes, list) or len(modes) != len(metrics):
        reader.fail("objective.modes", modes, f"must be a list with one mode per metric ({len(metrics)})")
    for mode in modes:
        if mode not in ("min", "max"):
            reader.fail("objective.modes", mode, "must be 'min' or 'max'")
    return tuple(metrics), tuple(modes)


def _parse_searcher(
    reader: _Reader, document: Mapping[str, Any], num_objectives: int
) -> tuple[str, int | None, dict[str, Any]]:
    searcher = reader.section(document, "searcher", ("sampler", "seed", "options"))
    sampler = reader.string(searcher.get("sampler", "tpe"), "searcher.sampler")
    if sampler not in SAMPLERS:
        reader.fail("searcher.sampler", sampler, f"must be one of {', '.join(SAMPLERS)}")
    if sampler == "cmaes" and num_objectives > 1:
        reader.fail(
            "searcher.sampler", sampler, "cannot optimise two objectives; use tpe or nsga2 with two objectives"
        )
    seed = searcher.get("seed", 0)
    if seed is not None:
        seed = reader.integer(seed, "searcher.seed", minimum=0, maximum=MAX_SEED)
    options = dict(reader.mapping(searcher.get("options") or {}, "searcher.options"))
    accepted = _sampler_arguments(sampler)
    for key in options:
        if key not in accepted:
            reader.fail(
                f"searcher.options.{key}",
                options[key],
                f"is not an argument of the {sampler} sampler; valid options: {', '.join(accepted)}",
            )
        options[key] = _check_sampler_option(reader, sampler, key, options[key])
    _check_sampler_builds(reader, sampler, seed, options)
    return sampler, seed, options


# Value rules of the sampler options a YAML file can set, by option name (Optuna 5.1's meaning).
# "count" is an integer >= 0, "positive count" >= 1, "fraction" a number in [0, 1].
_SAMPLER_OPTION_RULES: dict[str, str] = {
    "consider_prior": "bool",
    "consider_magic_clip": "bool",
    "consider_endpoints": "bool",
    "multivariate": "bool",
    "group": "bool",
    "warn_independent_sampling": "bool",
    "constant_liar": "bool",
    "consider_pruned_trials": "bool",
    "use_separable_cma": "bool",
    "with_margin": "bool",
    "lr_adapt": "bool",
    "prior_weight": "positive number",
    "sigma0": "positive number",
    "n_startup_trials": "count",
    "n_ei_candidates": "positive count",
    "popsize": "positive count",
    "population_size": "population",
    "mutation_prob": "fraction",
    "crossover_prob": "fraction",
    "swapping_prob": "fraction",
    "x0": "mapping",
}


def _check_sampler_option(reader: _Reader, sampler: str, name: str, value: Any) -> Any:
    """Check one sampler option's type and range, so a bad value fails before Ray starts.

    Returns:
        The value, with float literals such as ``1e-4`` converted to float.
    """
    key = f"searcher.options.{name}"
    if value is None and inspect.signature(_sampler_class(sampler)).parameters[name].default is None:
        return value  # The sampler's own default.
    rule = _SAMPLER_OPTION_RULES.get(name)
    if rule == "bool":
        if not isinstance(value, bool):
            reader.fail(key, value, "must be true or false")
    elif rule == "count":
        reader.integer(value, key, minimum=0)
    elif rule == "positive count":
        reader.integer(value, key, minimum=1)
    elif rule == "population":
        reader.integer(value, key, minimum=2)  # NSGA-II needs two parents to cross over.
    elif rule == "positive number":
        value = reader.number(value, key)
        if value <= 0:
            reader.fail(key, value, "must be > 0")
    elif rule == "fraction":
        value = reader.number(value, key)
        if not 0 <= value <= 1:
            reader.fail(key, value, "must be a probability in [0, 1]")
    elif rule == "mapping":
        reader.mapping(value, key)
    return value


def _check_sampler_builds(reader: _Reader, sampler: str, seed: int | None, options: Mapping[str, Any]) -> None:
    """Build the sampler once with the file's options, catching the checks Optuna makes itself."""
    sampler_class = _sampler_class(sampler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna warns that some options are experimental.
            sampler_class(seed=seed, **dict(options))
    except (TypeError, ValueError) as error:
        reader.fail("searcher.options", dict(options), f"are rejected by the {sampler} sampler: {error}")


def _sampler_class(sampler: str) -> type:
    import optuna

    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }[sampler]


def _sampler_arguments(sampler: str) -> tuple[str, ...]:
    sampler_class = _sampler_class(sampler)
    # Callables and objects cannot be written in YAML, and the seed has its own key.
    excluded = {"seed", "constraints_func", "independent_sampler", "mutation", "crossover", "source_trials"}
    excluded |= {"gamma", "weights"}
    # Deprecated in Optuna 4.4 and ignored by CmaEsSampler since then.
    excluded |= {"restart_strategy", "inc_popsize"}
    excluded |= {"elite_population_selection_strategy", "child_generation_strategy", "after_trial_strategy"}
    return tuple(name for name in inspect.signature(sampler_class).parameters if name not in excluded)


def _parse_scheduler(
    reader: _Reader,
    document: Mapping[str, Any],
    metrics: tuple[str, ...],
    modes: tuple[str, ...],
    max_steps: int,
) -> SchedulerSettings | None:
    value = document.get("scheduler", {"type": "asha"})
    if value is None or value == "none":
        return None
    if value == "asha":
        value = {"type": "asha"}
    scheduler = reader.mapping(value, "scheduler")
    reader.reject_unknown(
        scheduler, ("type", "metric", "mode", "grace_period", "reduction_factor", "brackets"), "scheduler"
    )
    kind = scheduler.get("type", "asha")
    if kind not in SCHEDULERS:
        reader.fail("scheduler.type", kind, f"must be one of {', '.join(SCHEDULERS)}")
    if kind == "none":
        return None
    metric = scheduler.get("metric", metrics[0])
    if metric not in OBJECTIVE_MODES:
        reader.fail("scheduler.metric", metric, f"must name one of {', '.join(OBJECTIVE_MODES)}")
    default_mode = modes[metrics.index(metric)] if metric in metrics else OBJECTIVE_MODES[metric]
    mode = scheduler.get("mode", default_mode)
    if mode not in ("min", "max"):
        reader.fail("scheduler.mode", mode, "must be 'min' or 'max'")
    grace_period = reader.integer(
        scheduler.get("grace_period", max(1, max_steps // 4)), "scheduler.grace_period", minimum=1
    )
    if grace_period > max_steps:
        reader.fail("scheduler.grace_period", grace_period, f"must be at most budget.max_steps={max_steps}")
    reduction_factor = reader.number(scheduler.get("reduction_factor", 2), "scheduler.reduction_factor")
    if reduction_factor <= 1:
        reader.fail("scheduler.reduction_factor", reduction_factor, "must be > 1")
    brackets = reader.integer(scheduler.get("brackets", 1), "scheduler.brackets", minimum=1)
    return SchedulerSettings(metric, mode, grace_period, float(reduction_factor), brackets)


def _parse_fixed(
    reader: _Reader, value: Any, dataset: str, max_steps: int, interval: int
) -> dict[str, Any]:
    fixed = _float_fields_to_float(reader.mapping(value or {}, "fixed"))
    for key in fixed:
        if key in RESERVED_FIELDS:
            reader.fail(f"fixed.{key}", fixed[key], f"is set by {RESERVED_FIELDS[key]}; move it there")
        if key not in FIELD_NAMES:
            reader.fail(f"fixed.{key}", fixed[key], f"is not a training setting{_close_names(key)}")
    try:
        TrainConfig.from_dict({**fixed, "dataset": dataset, "max_steps": max_steps, "interval": interval})
    except ConfigError as error:
        raise SearchSpaceError(f"{reader.path}: fixed: invalid training settings: {error}") from None
    return fixed


def _parse_parameters(reader: _Reader, value: Any, fixed: Mapping[str, Any]) -> tuple[Parameter, ...]:
    specs = reader.mapping(value, "parameters")
    if not specs:
        reader.fail("parameters", value, "must name at least one training setting to search")
    parameters = {}
    for name, spec in specs.items():
        key = f"parameters.{name}"
        if name in RESERVED_FIELDS:
            reader.fail(key, spec, f"is set by {RESERVED_FIELDS[name]} and cannot be searched")
        if name not in FIELD_NAMES:
            reader.fail(key, spec, f"is not a training setting{_close_names(name)}")
        if name in fixed:
            reader.fail(key, spec, f"is also set in fixed.{name}; keep it in one of the two sections")
        parameters[name] = _parse_parameter(reader, name, spec)

    for parameter in parameters.values():
        _check_condition(reader, parameter, parameters, fixed)
    # Switches first, so a define-by-run sampler samples them before the parameters that depend on them.
    ordered = sorted(parameters.values(), key=lambda parameter: parameter.condition is not None)
    return tuple(ordered)


def _parse_parameter(reader: _Reader, name: str, spec: Any) -> Parameter:
    key = f"parameters.{name}"
    spec = reader.mapping(spec, key)
    distribution = spec.get("distribution")
    if distribution not in DISTRIBUTIONS:
        reader.fail(f"{key}.distribution", distribution, f"must be one of {', '.join(DISTRIBUTIONS)}")
    allowed = {
        UNIFORM: ("distribution", "low", "high", "condition"),
        LOG_UNIFORM: ("distribution", "low", "high", "condition"),
        INT: ("distribution", "low", "high", "step", "log", "condition"),
        CATEGORICAL: ("distribution", "choices", "condition"),
    }[distribution]
    reader.reject_unknown(spec, allowed, key)
    condition = spec.get("condition")
    if condition is not None:
        condition = reader.string(condition, f"{key}.condition")

    kind = field_type(name)
    if distribution == CATEGORICAL:
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            reader.fail(f"{key}.choices", choices, "must be a non-empty list of values")
        if kind is float:
            choices = [_float_literal_to_float(choice) for choice in choices]
        for choice in choices:
            if not _fits_field(name, choice):
                reader.fail(
                    f"{key}.choices",
                    choice,
                    f"does not fit the setting's type {_type_name(name)}; every choice must be one",
                )
        if len({repr(choice) for choice in choices}) != len(choices):
            reader.fail(f"{key}.choices", choices, "must not repeat a value")
        return Parameter(name, distribution, choices=tuple(choices), condition=condition)

    if kind is bool or kind is str:
        reader.fail(
            f"{key}.distribution",
            distribution,
            f"does not fit the {_type_name(name)} setting {name!r}; use distribution: categorical with choices",
        )
    if distribution in (UNIFORM, LOG_UNIFORM) and kind is int:
        reader.fail(
            f"{key}.distribution",
            distribution,
            f"does not fit the integer setting {name!r}; use distribution: int (with log: true for a log scale)",
        )
    if distribution == INT and kind is float:
        reader.fail(
            f"{key}.distribution",
            distribution,
            f"does not fit the float setting {name!r}; use uniform or log_uniform",
        )

    if distribution == INT:
        low = reader.integer(spec.get("low"), f"{key}.low", required=True)
        high = reader.integer(spec.get("high"), f"{key}.high", required=True)
    else:
        low = reader.number(spec.get("low"), f"{key}.low", required=True)
        high = reader.number(spec.get("high"), f"{key}.high", required=True)
    if not low < high:
        reader.fail(f"{key}.high", high, f"must be greater than {key}.low={low}")

    step = None
    log = False
    if distribution == INT:
        step = reader.integer(spec.get("step", 1), f"{key}.step", minimum=1)
        log = spec.get("log", False)
        if not isinstance(log, bool):
            reader.fail(f"{key}.log", log, "must be true or false")
        if log and step != 1:
            reader.fail(f"{key}.step", step, "must be 1 when log is true (Optuna samples log-scale integers by 1)")
        if (high - low) % step != 0:
            reader.fail(f"{key}.high", high, f"must be {key}.low plus a multiple of {key}.step={step}")
    if (distribution == LOG_UNIFORM or log) and low <= 0:
        reader.fail(f"{key}.low", low, "must be > 0 for a log-scale distribution")
    return Parameter(name, distribution, low=low, high=high, step=step, log=log, condition=condition)


def _check_condition(
    reader: _Reader, parameter: Parameter, parameters: Mapping[str, Parameter], fixed: Mapping[str, Any]
) -> None:
    switch = parameter.condition
    if switch is None:
        return
    key = f"parameters.{parameter.name}.condition"
    if switch not in FIELD_NAMES or field_type(switch) is not bool:
        reader.fail(key, switch, f"must name a boolean training setting (a switch){_close_names(switch)}")
    if switch == parameter.name:
        reader.fail(key, switch, "must name another setting, not the parameter itself")
    if switch in parameters:
        switch_parameter = parameters[switch]
        if switch_parameter.condition is not None:
            reader.fail(key, switch, f"names a switch that is itself conditional on {switch_parameter.condition!r}")
        if True not in (switch_parameter.choices or ()):
            reader.fail(key, switch, f"names a switch whose choices never include true; add true to {switch}")
        return
    if fixed.get(switch) is True:
        return
    reader.fail(
        key,
        switch,
        f"names a switch that is neither searched nor fixed on, so {parameter.name!r} would never be sampled; "
        f"add {switch} to parameters (distribution: categorical, choices: [false, true]) or set fixed.{switch}: true",
    )


def _check_combinations(reader: _Reader, space: SearchSpace) -> None:
    """Build the configuration of every bound or choice, alone and in pairs, to catch invalid ranges.

    ``TrainConfig`` rules relate at most two settings (for example class_weight_min <=
    class_weight_start), so trying every pair of edge values finds a range that can produce an
    invalid trial before the search starts.
    """
    base = space.base_config()
    by_name = {parameter.name: parameter for parameter in space.parameters}

    def with_switches(values: dict[str, Any]) -> dict[str, Any] | None:
        for name in list(values):
            switch = by_name[name].condition
            if switch is None or switch not in by_name:
                continue
            if values.get(switch, True) is not True:
                return None
            values[switch] = True
        return values

    for parameter in space.parameters:
        for value in parameter.candidate_values():
            values = with_switches({parameter.name: value})
            if values is None:
                continue
            try:
                base.replace(**values)
            except ConfigError as error:
                if parameter.distribution == CATEGORICAL:
                    edge = "choices"
                elif value == parameter.low:
                    edge = "low"
                else:
                    edge = "high"
                raise SearchSpaceError(
                    f"{reader.path}: parameters.{parameter.name}.{edge}: the value is invalid for the training "
                    f"setting: {error}. Narrow the range. Received: parameters.{parameter.name}.{edge}={value!r}"
                ) from None

    for first, second in itertools.combinations(space.parameters, 2):
        for first_value, second_value in itertools.product(first.candidate_values(), second.candidate_values()):
            values = with_switches({first.name: first_value, second.name: second_value})
            if values is None:
                continue
            try:
                base.replace(**values)
            except ConfigError as error:
                raise SearchSpaceError(
                    f"{reader.path}: parameters.{first.name} and parameters.{second.name}: the combination "
                    f"{first.name}={first_value!r}, {second.name}={second_value!r} is an invalid training "
                    f"configuration: {error}. Narrow the ranges so that every combination is valid."
                ) from None


# -------------------------------------------------------------------- helpers


def _float_literal_to_float(value: Any) -> Any:
    """Convert strings such as ``1e-4`` to float, because PyYAML reads exponents without a dot as strings."""
    if isinstance(value, str) and _FLOAT_LITERAL.match(value.strip()):
        return float(value)
    return value


_FLOAT_LITERAL = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _float_fields_to_float(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _float_literal_to_float(value) if key in FIELD_NAMES and field_type(key) is float else value
        for key, value in values.items()
    }


def _fits_field(name: str, value: Any) -> bool:
    if value is None:
        return field_allows_none(name)
    kind = field_type(name)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind)


def _type_name(name: str) -> str:
    text = field_type(name).__name__
    return f"{text} or null" if field_allows_none(name) else text


def _close_names(name: Any) -> str:
    close = difflib.get_close_matches(str(name), FIELD_NAMES, n=3)
    return f"; closest: {', '.join(close)}" if close else ""


class _Reader:
    """Typed access to YAML values that raises SearchSpaceError naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, rule: str) -> None:
        raise SearchSpaceError(f"{self.path}: {key} {rule}. Received: {key}={value!r}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, value, "must be a mapping of keys to values")
        for item in value:
            if not isinstance(item, str):
                self.fail(key, item, "must have string keys")
        return value

    def section(
        self, document: Mapping[str, Any], key: str, allowed: tuple[str, ...], *, required: bool = False
    ) -> Mapping[str, Any]:
        if key not in document:
            if required:
                self.fail(key, None, f"is required, with the keys {', '.join(allowed)}")
            return {}
        section = self.mapping(document[key], key)
        self.reject_unknown(section, allowed, key)
        return section

    def reject_unknown(self, values: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in values:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; closest: {close[0]}" if close else ""
                full = f"{prefix}.{key}" if prefix else key
                self.fail(full, values[key], f"is not a known key; valid keys: {', '.join(allowed)}{hint}")

    def string(self, value: Any, key: str, *, required: bool = False) -> str:
        if value is None and required:
            self.fail(key, value, "is required")
        if not isinstance(value, str) or not value:
            self.fail(key, value, "must be a non-empty string")
        return value

    def integer(
        self, value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None, required: bool = False
    ) -> int:
        if value is None and required:
            self.fail(key, value, "is required")
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, value, "must be an integer")
        if minimum is not None and value < minimum:
            self.fail(key, value, f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            self.fail(key, value, f"must be <= {maximum}")
        return value

    def number(self, value: Any, key: str, *, required: bool = False) -> float:
        if value is None and required:
            self.fail(key, value, "is required")
        value = _float_literal_to_float(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            self.fail(key, value, "must be a finite number")
        return value
