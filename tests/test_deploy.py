"""deploy/ matches the code: the image's Ray is the pinned Ray, the KubeRay manifests are
valid for KubeRay's CRDs (kept in deploy/kuberay-crd/), the cluster-launcher YAML for the
installed Ray's schema, and the job configs they carry for tokenmill's own validation."""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from pipeline.config import validate_config
from tests.conftest import ROOT
from trainer.config import validate_train_config

DEPLOY = ROOT / "deploy"
MANIFESTS = ("raycluster.yaml", "rayjob-pipeline.yaml", "rayjob-train.yaml")
IMAGE_ROOT = "/home/ray/tokenmill/"
"""Where deploy/Dockerfile puts the checkout's files (its WORKDIR)."""


def pinned(package: str) -> str:
    text = (ROOT / "constraints.txt").read_text()
    return re.search(rf"^{package}==([^\s+]+)", text, re.MULTILINE).group(1)


def documents(name: str) -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / name).read_text()))


def custom_resources() -> list[tuple[str, dict]]:
    return [
        (name, document)
        for name in MANIFESTS
        for document in documents(name)
        if document["apiVersion"].startswith("ray.io/")
    ]


@functools.cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    """A validator for the `v1` openAPIV3Schema of KubeRay's CRD for `kind`, made strict: where an object
    lists its properties, another one is an error (`kubectl apply --validate=strict`)."""
    path = DEPLOY / "kuberay-crd" / f"ray.io_{kind.lower()}s.yaml.gz"
    crd = yaml.load(gzip.decompress(path.read_bytes()), Loader=yaml.CSafeLoader)
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


def strict(schema):
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


def test_the_image_installs_the_pinned_ray_with_the_constraints():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE=rayproject/ray:([0-9.]+)-py311-cpu$", dockerfile, re.MULTILINE)
    assert base and base.group(1) == pinned("ray") == ray.__version__
    assert "-c constraints.txt '.[cloud,postgres]'" in dockerfile
    assert "COPY --chown=ray:users data/models data/models" in dockerfile
    for name in MANIFESTS:
        assert f'rayVersion: "{pinned("ray")}"' in (DEPLOY / name).read_text(), name


@pytest.mark.parametrize(("name", "resource"), custom_resources(), ids=lambda v: str(v)[:20])
def test_kuberay_manifests_are_valid_for_the_crds(name, resource):
    crd_validator(resource["kind"]).validate(resource)


def test_the_strict_schema_refuses_a_misspelt_field():
    _, cluster = custom_resources()[0]
    cluster["spec"]["headGroupSpec"]["rayStartParam"] = {}
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        crd_validator("RayCluster").validate(cluster)


def test_the_jobs_configs_are_valid_tokenmill_configs():
    for name in ("rayjob-pipeline.yaml", "rayjob-train.yaml"):
        (config_map,) = [d for d in documents(name) if d["kind"] == "ConfigMap"]
        (job,) = [d for d in documents(name) if d["kind"] == "RayJob"]
        for key, text in config_map["data"].items():
            assert f"/home/ray/job/{key}" in job["spec"]["entrypoint"]
            # The image's files are this checkout's.
            data = yaml.safe_load(text.replace(IMAGE_ROOT, f"{ROOT}/"))
            if "inputs" in data:
                validate_config(data, origin=key)
            else:
                validate_train_config(data, origin=key)


def test_the_cluster_launcher_yaml_is_valid_for_the_installed_ray():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((DEPLOY / "cluster.yaml").read_text())
    jsonschema.validate(config, schema)
    assert config["docker"]["image"].startswith("ghcr.io/tokenmill/tokenmill:")
