"""Search-space files: parsing, validation against TrainConfig, shipped spaces and sampling."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from acgan_search.errors import SearchSpaceError
from acgan_search.search.space import load_search_space, parse_search_space
from acgan_search.search.tuner import build_sampler, build_scheduler, build_searcher, sample_parameters

SHIPPED = Path(__file__).resolve().parents[1] / "search_spaces"

VALID: dict[str, Any] = {
    "name": "unit",
    "dataset": "mnist-5k",
    "budget": {"num_trials": 3, "max_steps": 100, "interval": 50},
    "fixed": {"batch_size": 16},
    "parameters": {
        "class_weight_start": {"distribution": "log_uniform", "low": 0.2, "high": 2.0},
        "self_attention": {"distribution": "categorical", "choices": [False, True]},
        "self_attention_resolution": {
            "distribution": "categorical",
            "choices": [7, 14],
            "condition": "self_attention",
        },
        "class_weight_decay_steps": {"distribution": "int", "low": 100, "high": 500, "step": 100},
    },
}


def write_space(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def changed(**sections: Any) -> dict[str, Any]:
    """Return VALID with top-level sections replaced (None removes a section)."""
    document = copy.deepcopy(VALID)
    for key, value in sections.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def with_parameter(name: str, spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    document["parameters"][name] = spec
    return document


def error_of(tmp_path: Path, document: Any) -> str:
    path = write_space(tmp_path, document)
    with pytest.raises(SearchSpaceError) as info:
        load_search_space(path)
    return str(info.value)


# ------------------------------------------------------------------ valid files


@pytest.mark.parametrize("name", ["smoke", "weights", "regularization", "optimizers", "extensions", "full"])
def test_shipped_space_loads(name: str) -> None:
    space = load_search_space(SHIPPED / f"{name}.yaml")
    assert space.name == name
    assert space.parameters


def test_valid_space_defaults(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, VALID))
    assert space.metrics == ("fid",)
    assert space.modes == ("min",)
    assert space.sampler == "tpe"
    assert space.scheduler is not None and space.scheduler.metric == "fid"
    assert space.scheduler.grace_period == 25


def test_valid_space_switches_before_conditional(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, VALID))
    names = space.parameter_names
    assert names.index("self_attention") < names.index("self_attention_resolution")


def test_training_config_merges_fixed_and_sampled(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, VALID))
    config = space.training_config({"class_weight_start": 1.5})
    assert config.class_weight_start == 1.5
    assert config.batch_size == 16
    assert config.max_steps == 100
    assert config.interval == 50


def test_exponent_without_dot_reads_as_float(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    text = yaml.safe_dump(VALID) + "# PyYAML reads 1e-4 as a string.\n"
    text = text.replace("fixed:\n  batch_size: 16", "fixed:\n  batch_size: 16\n  generator_lr: 1e-4")
    path.write_text(text, encoding="utf-8")
    assert load_search_space(path).base_config().generator_lr == 1e-4


def test_two_objectives_with_modes(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(objective=["fid", "class_accuracy"])))
    assert space.metrics == ("fid", "class_accuracy")
    assert space.modes == ("min", "max")
    assert space.scheduler is not None and space.scheduler.metric == "fid"


def test_scheduler_none(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(scheduler="none")))
    assert space.scheduler is None


def test_resolved_space_round_trips(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(objective=["fid", "class_accuracy"])))
    again = parse_search_space(space.to_dict(), path="round trip")
    assert again.to_dict() == space.to_dict()


# ------------------------------------------------------------------ invalid files


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match=r"not found: .*absent\.yaml"):
        load_search_space(tmp_path / "absent.yaml")


def test_invalid_yaml_rejected(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SearchSpaceError, match=r"space\.yaml:2:1: invalid YAML: expected ',' or '\]'"):
        load_search_space(path)


def test_invalid_yaml_message_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("name: unit\nbudget: num_trials: 3\n", encoding="utf-8")
    with pytest.raises(SearchSpaceError) as info:
        load_search_space(path)
    assert "\n" not in str(info.value)
    assert re.search(r"space\.yaml:2:19: invalid YAML: mapping values are not allowed here", str(info.value))


def test_non_utf8_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SearchSpaceError, match=r"space\.yaml: the search-space file is not UTF-8 text: byte 0xe9"):
        load_search_space(path)


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    text = yaml.safe_dump(VALID, sort_keys=False).replace("  batch_size: 16\n", "  batch_size: 16\n  batch_size: 32\n")
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  batch_size: 32") + 1
    with pytest.raises(SearchSpaceError, match=rf"space\.yaml:{line}:3: duplicate key 'batch_size' \(first set on line {line - 1}\)"):
        load_search_space(path)


def test_directory_as_space_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match=r"is a directory\. Pass the path of a YAML file"):
        load_search_space(tmp_path)


def test_error_names_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("generator_lrr", {"distribution": "uniform", "low": 0.1, "high": 0.2}))
    assert message.startswith(str(tmp_path / "space.yaml"))


def test_unknown_parameter_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("generator_lrr", {"distribution": "uniform", "low": 0.1, "high": 0.2}))
    assert re.search(r"parameters\.generator_lrr is not a training setting; closest: generator_lr", message)
    assert "Received: parameters.generator_lrr=" in message


def test_unknown_top_level_key_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(budjet={"num_trials": 1}))
    assert re.search(r"budjet is not a known key.*closest: budget\. Received", message)


def test_unknown_fixed_setting_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(fixed={"batchsize": 16}))
    assert re.search(r"fixed\.batchsize is not a training setting; closest: batch_size\. Received", message)


def test_invalid_fixed_value_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(fixed={"dropout": 1.5}))
    assert re.search(r"fixed: invalid training settings: .*dropout.*Received: dropout=1\.5", message)


def test_reserved_field_in_fixed_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(fixed={"max_steps": 10}))
    assert re.search(r"fixed\.max_steps is set by budget\.max_steps; move it there\. Received: fixed\.max_steps=10", message)


def test_parameter_also_fixed_rejected(tmp_path: Path) -> None:
    document = changed(fixed={"class_weight_start": 1.0})
    message = error_of(tmp_path, document)
    assert re.search(r"parameters\.class_weight_start is also set in fixed\.class_weight_start", message)


def test_missing_budget_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(budget=None))
    assert re.search(r"budget is required, with the keys num_trials, max_steps, interval\. Received: budget=None", message)


def test_interval_above_max_steps_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(budget={"num_trials": 1, "max_steps": 10, "interval": 20}))
    assert re.search(r"budget\.interval must be at most budget\.max_steps=10\. Received: budget\.interval=20", message)


def test_zero_trials_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(budget={"num_trials": 0, "max_steps": 10, "interval": 5}))
    assert re.search(r"budget\.num_trials must be >= 1\. Received: budget\.num_trials=0", message)


def test_bad_name_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(name="a/b"))
    assert re.search(r"name must be a directory name.*Received: name='a/b'", message)


def test_bad_range_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("dropout", {"distribution": "uniform", "low": 0.5, "high": 0.1}))
    assert re.search(r"parameters\.dropout\.high must be greater than parameters\.dropout\.low=0\.5\. Received: parameters\.dropout\.high=0\.1", message)


def test_log_range_at_zero_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("generator_lr", {"distribution": "log_uniform", "low": 0.0, "high": 0.1}))
    assert re.search(r"parameters\.generator_lr\.low must be > 0 for a log-scale distribution\. Received: parameters\.generator_lr\.low=0\.0", message)


def test_range_outside_field_rule_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("dropout", {"distribution": "uniform", "low": 0.1, "high": 1.0}))
    assert re.search(r"parameters\.dropout\.high: the value is invalid.*dropout.*Received: parameters\.dropout\.high=1\.0", message)


def test_invalid_combination_rejected(tmp_path: Path) -> None:
    document = with_parameter("class_weight_min", {"distribution": "uniform", "low": 0.0, "high": 0.5})
    message = error_of(tmp_path, document)
    assert "class_weight_start=0.2" in message
    assert "class_weight_min=0.5" in message
    assert "is an invalid training configuration" in message


def test_missing_bound_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("dropout", {"distribution": "uniform", "low": 0.1}))
    assert re.search(r"parameters\.dropout\.high is required\. Received: parameters\.dropout\.high=None", message)


def test_unknown_distribution_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("dropout", {"distribution": "normal", "low": 0.1, "high": 0.2}))
    assert re.search(r"parameters\.dropout\.distribution must be one of uniform, log_uniform, int, categorical\. Received: parameters\.dropout\.distribution='normal'", message)


def test_uniform_on_integer_field_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("latent_dim", {"distribution": "uniform", "low": 16, "high": 64}))
    assert re.search(r"does not fit the integer setting 'latent_dim'; use distribution: int.*Received: parameters\.latent_dim\.distribution='uniform'", message)


def test_int_on_float_field_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("dropout", {"distribution": "int", "low": 0, "high": 1}))
    assert re.search(r"does not fit the float setting 'dropout'; use uniform or log_uniform", message)


def test_numeric_on_switch_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("augment", {"distribution": "uniform", "low": 0, "high": 1}))
    assert re.search(r"does not fit the bool setting 'augment'; use distribution: categorical", message)


def test_choice_of_wrong_type_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("latent_dim", {"distribution": "categorical", "choices": [16, "32"]}))
    assert re.search(r"parameters\.latent_dim\.choices does not fit the setting's type int.*Received: parameters\.latent_dim\.choices='32'", message)


def test_float_bound_on_int_distribution_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("latent_dim", {"distribution": "int", "low": 16.5, "high": 64}))
    assert re.search(r"parameters\.latent_dim\.low must be an integer\. Received: parameters\.latent_dim\.low=16\.5", message)


def test_int_step_not_dividing_range_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_parameter("latent_dim", {"distribution": "int", "low": 16, "high": 60, "step": 16}))
    assert re.search(r"must be parameters\.latent_dim\.low plus a multiple of parameters\.latent_dim\.step=16", message)


def test_condition_on_missing_switch_rejected(tmp_path: Path) -> None:
    document = with_parameter("label_noise_fraction", {"distribution": "uniform", "low": 0.05, "high": 0.2, "condition": "label_noise"})
    message = error_of(tmp_path, document)
    assert re.search(r"condition names a switch that is neither searched nor fixed on.*Received: parameters\.label_noise_fraction\.condition='label_noise'", message)


def test_condition_on_non_switch_rejected(tmp_path: Path) -> None:
    document = with_parameter("label_noise_fraction", {"distribution": "uniform", "low": 0.05, "high": 0.2, "condition": "dropout"})
    message = error_of(tmp_path, document)
    assert re.search(r"condition must name a boolean training setting.*Received: parameters\.label_noise_fraction\.condition='dropout'", message)


def test_condition_on_switch_never_on_rejected(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["parameters"]["self_attention"]["choices"] = [False]
    message = error_of(tmp_path, document)
    assert re.search(r"choices never include true.*Received: parameters\.self_attention_resolution\.condition='self_attention'", message)


def test_condition_on_fixed_switch_accepted(tmp_path: Path) -> None:
    document = with_parameter("label_noise_fraction", {"distribution": "uniform", "low": 0.05, "high": 0.2, "condition": "label_noise"})
    document["fixed"]["label_noise"] = True
    assert load_search_space(write_space(tmp_path, document)).fixed["label_noise"] is True


def test_unknown_objective_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(objective="inception_score"))
    assert re.search(r"objective\.metrics must name one of fid, intra_fid, class_accuracy, class_entropy\. Received: objective\.metrics='inception_score'", message)


def test_cmaes_with_two_objectives_rejected(tmp_path: Path) -> None:
    document = changed(objective=["fid", "class_accuracy"], searcher={"sampler": "cmaes"})
    message = error_of(tmp_path, document)
    assert re.search(r"searcher\.sampler cannot optimise two objectives.*Received: searcher\.sampler='cmaes'", message)


def test_unknown_sampler_option_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(searcher={"sampler": "random", "options": {"n_startup_trials": 3}}))
    assert re.search(r"searcher\.options\.n_startup_trials is not an argument of the random sampler", message)


@pytest.mark.parametrize(
    ("sampler", "option", "value", "rule"),
    [
        ("tpe", "n_startup_trials", -1, "must be >= 0"),
        ("tpe", "n_startup_trials", 2.5, "must be an integer"),
        ("tpe", "n_ei_candidates", 0, "must be >= 1"),
        ("tpe", "prior_weight", -1.0, "must be > 0"),
        ("tpe", "multivariate", "yes", "must be true or false"),
        ("cmaes", "sigma0", 0.0, "must be > 0"),
        ("cmaes", "popsize", 0, "must be >= 1"),
        ("cmaes", "x0", [1, 2], "must be a mapping of keys to values"),
        ("nsga2", "population_size", 1, "must be >= 2"),
        ("nsga2", "crossover_prob", 1.5, r"must be a probability in \[0, 1\]"),
        ("nsga2", "mutation_prob", -0.1, r"must be a probability in \[0, 1\]"),
    ],
)
def test_invalid_sampler_option_value_rejected(tmp_path: Path, sampler: str, option: str, value: Any, rule: str) -> None:
    message = error_of(tmp_path, changed(searcher={"sampler": sampler, "options": {option: value}}))
    pattern = rf"space\.yaml: searcher\.options\.{option} {rule}\. Received: searcher\.options\.{option}={re.escape(repr(value))}"
    assert re.search(pattern, message), message


def test_sampler_option_null_default_accepted(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(searcher={"sampler": "cmaes", "options": {"popsize": None}})))
    assert space.sampler_options == {"popsize": None}


def test_sampler_option_float_literal_converted(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(searcher={"sampler": "tpe", "options": {"prior_weight": "1e-1"}})))
    assert space.sampler_options["prior_weight"] == 0.1


def test_deprecated_cmaes_option_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(searcher={"sampler": "cmaes", "options": {"restart_strategy": "ipop"}}))
    assert "searcher.options.restart_strategy is not an argument of the cmaes sampler" in message


def test_grace_period_above_budget_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(scheduler={"type": "asha", "grace_period": 500}))
    assert re.search(r"scheduler\.grace_period must be at most budget\.max_steps=100\. Received: scheduler\.grace_period=500", message)


def test_reduction_factor_of_one_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(scheduler={"type": "asha", "reduction_factor": 1}))
    assert re.search(r"scheduler\.reduction_factor must be > 1\. Received: scheduler\.reduction_factor=1", message)


def test_negative_gpus_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, changed(resources={"gpus_per_trial": -0.5}))
    assert re.search(r"resources\.gpus_per_trial must be >= 0\. Received: resources\.gpus_per_trial=-0\.5", message)


@pytest.mark.parametrize(
    ("section", "key"), [("evaluation", "evaluation.seed"), ("searcher", "searcher.seed")]
)
def test_seed_above_32_bits_rejected(tmp_path: Path, section: str, key: str) -> None:
    values = {"seed": 2**32} if section == "evaluation" else {"sampler": "tpe", "seed": 2**32}
    message = error_of(tmp_path, changed(**{section: values}))
    assert re.search(rf"{re.escape(key)} must be <= 4294967295\. Received: {re.escape(key)}=4294967296", message)


def test_top_level_list_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, [1, 2])
    assert re.search(r"<top level> must be a mapping of keys to values\. Received: <top level>=\[1, 2\]", message)


# ------------------------------------------------------------------ sampling


def sampled_parameters(space_document: dict[str, Any], tmp_path: Path, trials: int) -> list[dict[str, Any]]:
    space = load_search_space(write_space(tmp_path, space_document))
    study = optuna.create_study(sampler=build_sampler(space))
    params = []
    for _ in range(trials):
        trial = study.ask()
        sample_parameters(space.parameters, {}, trial)
        study.tell(trial, 1.0)
        params.append(trial.params)
    return params


def test_conditional_parameter_sampled_only_when_switch_on(tmp_path: Path) -> None:
    document = changed(searcher={"sampler": "random", "seed": 0})
    for params in sampled_parameters(document, tmp_path, trials=20):
        assert ("self_attention_resolution" in params) == params["self_attention"]


def test_samples_stay_in_range(tmp_path: Path) -> None:
    document = changed(searcher={"sampler": "random", "seed": 1})
    for params in sampled_parameters(document, tmp_path, trials=20):
        assert 0.2 <= params["class_weight_start"] <= 2.0
        assert params["class_weight_decay_steps"] in (100, 200, 300, 400, 500)


@pytest.mark.parametrize(
    "sampler, sampler_class",
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
    ],
)
def test_every_sampler_builds(tmp_path: Path, sampler: str, sampler_class: type) -> None:
    space = load_search_space(write_space(tmp_path, changed(searcher={"sampler": sampler, "seed": 3})))
    assert isinstance(build_sampler(space), sampler_class)


def test_searcher_takes_both_objectives(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(objective=["fid", "class_accuracy"])))
    searcher = build_searcher(space)
    assert searcher.metric == ["fid", "class_accuracy"]
    assert searcher.mode == ["min", "max"]


def test_scheduler_uses_step_and_fid(tmp_path: Path) -> None:
    space = load_search_space(write_space(tmp_path, changed(objective=["fid", "class_accuracy"])))
    scheduler = build_scheduler(space)
    assert scheduler._time_attr == "step"
    assert scheduler.metric == "fid"
