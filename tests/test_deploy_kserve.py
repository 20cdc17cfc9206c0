"""deploy/kserve/: the ServingRuntime and the InferenceService example are valid against KServe
v0.16.0's CRDs (vendored in tests/data/kserve/), agree with each other, and the container's
command line is one ``convzoo serve`` accepts."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pytest
import tomllib
from crd_schema import CustomResourceDefinition, load_yaml

from convzoo.cli.commands import build_parser

ROOT = Path(__file__).resolve().parents[1]
CRDS = Path(__file__).parent / "data" / "kserve"
RUNTIME = ROOT / "deploy" / "kserve" / "servingruntime.yaml"
SERVICE = ROOT / "deploy" / "kserve" / "inferenceservice.yaml"


@pytest.fixture(scope="module")
def crds() -> dict[str, CustomResourceDefinition]:
    return {
        "ServingRuntime": CustomResourceDefinition(CRDS / "serving.kserve.io_servingruntimes.yaml"),
        "InferenceService": CustomResourceDefinition(CRDS / "serving.kserve.io_inferenceservices.yaml"),
    }


def container(runtime: dict) -> dict:
    return runtime["spec"]["containers"][0]


def test_both_manifests_are_valid(crds):
    runtime, service = load_yaml(RUNTIME), load_yaml(SERVICE)
    assert (runtime["kind"], service["kind"]) == ("ServingRuntime", "InferenceService")
    assert crds["ServingRuntime"].errors(runtime) == []
    assert crds["InferenceService"].errors(service) == []


def _set(path: str, value):
    """A change to a manifest: set ``value`` at the dotted ``path`` (list indices as numbers)."""

    def change(manifest: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value

    change.__name__ = f"{path}={value!r}"
    return change


def _drop(path: str):
    def change(manifest: dict) -> None:
        *parents, last = path.split(".")
        node = manifest
        for key in parents:
            node = node[int(key) if key.isdigit() else key]
        del node[last]

    change.__name__ = f"no-{path}"
    return change


BROKEN = [
    (RUNTIME, _set("spec.containers.0.ports.0.containerPort", "8001"), "'8001' is not of type 'integer'"),
    (RUNTIME, _set("spec.containers.0.ports.1.containerPort", 8001), "duplicate entry {'containerPort': 8001"),
    (RUNTIME, _set("spec.containers.0.args", "serve --repository /mnt/models"), "is not of type 'array'"),
    (RUNTIME, _set("spec.containers.0.readinessProbe.grpc.port", 2**32), "is not a 'int32'"),
    (RUNTIME, _set("spec.containers.0.resources.limits.cpu", ["2"]), "neither an integer nor a string"),
    (RUNTIME, _set("spec.supportedModelFormats.0.priority", 0), "0 is less than the minimum of 1"),
    (RUNTIME, _set("spec.supportedModelFormat", [{"name": "onnx"}]), "'supportedModelFormat' was unexpected"),
    (RUNTIME, _drop("spec.containers"), "'containers' is a required property"),
    (RUNTIME, _set("apiVersion", "serving.kserve.io/v1beta1"), "is not one of serving.kserve.io/['v1alpha1']"),
    (RUNTIME, _set("metadata.name", "Convzoo_Runtime"), "is not a DNS-1123 label"),
    (SERVICE, _set("spec.predictor.model.protocolVersion", ["grpc-v2"]), "is not of type 'string'"),
    (SERVICE, _drop("spec.predictor.model.modelFormat.name"), "'name' is a required property"),
    (SERVICE, _set("spec.predictor.minReplicas", "2"), "'2' is not of type 'integer'"),
    (SERVICE, _set("kind", "ServingRuntime"), "kind: 'ServingRuntime' is not 'InferenceService'"),
]


@pytest.mark.parametrize("manifest, change, message", BROKEN, ids=[change.__name__ for _, change, _ in BROKEN])
def test_a_broken_manifest_is_refused(crds, manifest, change, message):
    broken = copy.deepcopy(load_yaml(manifest))
    change(broken)
    errors = crds[load_yaml(manifest)["kind"]].errors(broken)
    assert any(message in error for error in errors), errors


def test_the_service_selects_this_runtime():
    runtime, service = load_yaml(RUNTIME), load_yaml(SERVICE)
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert model["storageUri"].startswith(("s3://", "gs://", "pvc://", "https://", "hf://", "azure://"))


def serve_parser() -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["serve"]


def test_the_container_runs_convzoo_serve_on_the_declared_ports():
    runtime = load_yaml(RUNTIME)
    spec = container(runtime)
    assert spec["name"] == "kserve-container"  # where KServe merges the InferenceService's model spec
    assert spec["command"] == ["convzoo"] and spec["args"][0] == "serve"
    args = build_parser().parse_args(spec["args"])
    assert args.func.__module__ == "convzoo.server.cli"
    assert (args.repository, args.host) == (Path("/mnt/models"), "0.0.0.0")
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    assert ports["h2c"] == args.port == spec["readinessProbe"]["grpc"]["port"]
    assert ports["http"] == args.http_port == 8000
    assert int(runtime["spec"]["annotations"]["prometheus.kserve.io/port"]) == args.metrics_port


def test_the_runtime_names_the_image_make_image_tags():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container(load_yaml(RUNTIME))["image"] == f"localhost/convzoo:{version}"
