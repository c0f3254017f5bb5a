"""cluster.yaml against Ray's own cluster-launcher schema and the project's needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml

CLUSTER_FILE = Path(__file__).resolve().parents[1] / "cluster.yaml"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_FILE.read_text(encoding="utf-8"))


def test_cluster_config_matches_ray_schema(cluster: dict[str, Any]) -> None:
    schema = json.loads(RAY_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(cluster, schema)


def test_cluster_config_head_type_defined(cluster: dict[str, Any]) -> None:
    assert cluster["head_node_type"] in cluster["available_node_types"]


def test_cluster_config_has_gpu_workers(cluster: dict[str, Any]) -> None:
    workers = [
        node for name, node in cluster["available_node_types"].items() if name != cluster["head_node_type"]
    ]
    assert any(node["resources"].get("GPU", 0) >= 1 for node in workers)
    assert all(node.get("min_workers", 0) < node["max_workers"] for node in workers)


def test_cluster_config_head_offers_no_cpu_to_trials(cluster: dict[str, Any]) -> None:
    head = cluster["available_node_types"][cluster["head_node_type"]]
    assert head["resources"]["CPU"] == 0


def test_cluster_config_installs_project(cluster: dict[str, Any]) -> None:
    mounted = [remote for remote, local in cluster["file_mounts"].items() if local == "."]
    assert mounted, "the repository root must be mounted on every node"
    assert any(f"pip install -q -e {mounted[0]}" in command for command in cluster["setup_commands"])


def test_cluster_config_rejected_when_broken(cluster: dict[str, Any]) -> None:
    schema = json.loads(RAY_SCHEMA.read_text(encoding="utf-8"))
    broken = {**cluster, "max_workers": "four"}
    with pytest.raises(jsonschema.ValidationError, match="'four' is not of type 'integer'"):
        jsonschema.validate(broken, schema)
