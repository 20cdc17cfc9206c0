"""Validate a Kubernetes manifest against a CustomResourceDefinition, as the API server would.

A CRD's ``openAPIV3Schema`` is JSON Schema (draft 4 keywords) plus Kubernetes extensions, so
``jsonschema``'s Draft4Validator checks it once those are given their meaning:

- unknown fields are errors (kubectl's default ``--validate=strict``), except under
  ``x-kubernetes-preserve-unknown-fields`` or where ``additionalProperties`` says otherwise;
- ``x-kubernetes-int-or-string``: an integer or a string;
- ``x-kubernetes-list-type``: ``set`` items are unique, ``map`` items are unique by their
  ``x-kubernetes-list-map-keys`` (a missing key takes its schema's default, e.g. protocol TCP);
- ``format`` ``int32``/``int64``: the integer fits.

``x-kubernetes-map-type`` only affects merging, not validity. What the schema leaves out
and the API server checks itself: ``apiVersion`` (a served version of the CRD's group),
``kind``, and ``metadata.name`` (a DNS-1123 label for these resources).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import yaml

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
INT_RANGES = {"int32": 2**31, "int64": 2**63}


def load_yaml(path: Path) -> dict:
    with open(path) as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _strict(schema):
    """``schema`` with unknown fields refused wherever Kubernetes would prune them."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _int_or_string(validator, enabled, instance, schema):
    if enabled and (isinstance(instance, bool) or not isinstance(instance, (int, str))):
        yield jsonschema.ValidationError(f"{instance!r} is neither an integer nor a string")


def _list_type(validator, list_type, instance, schema):
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen = [repr(item) for item in instance]
        for item in {item for item in seen if seen.count(item) > 1}:
            yield jsonschema.ValidationError(f"duplicate entry {item} in a set list")
    elif list_type == "map":
        names = schema.get("x-kubernetes-list-map-keys", [])
        fields = schema.get("items", {}).get("properties", {})
        keys = [
            tuple(item.get(name, fields.get(name, {}).get("default")) for name in names)
            for item in instance
            if isinstance(item, dict)
        ]
        for key in sorted({key for key in keys if keys.count(key) > 1}, key=repr):
            yield jsonschema.ValidationError(f"duplicate entry {dict(zip(names, key))} in a map list")


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, bound in INT_RANGES.items():
        checker.checks(name)(lambda value, bound=bound: not isinstance(value, int) or -bound <= value < bound)
    return checker


KubernetesValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {"x-kubernetes-int-or-string": _int_or_string, "x-kubernetes-list-type": _list_type},
)


class CustomResourceDefinition:
    """One CRD file: its group, kind and each served version's (strict) schema."""

    def __init__(self, path: Path):
        crd = load_yaml(path)
        if crd.get("kind") != "CustomResourceDefinition":
            raise ValueError(f"{path}: not a CustomResourceDefinition")
        self.group = crd["spec"]["group"]
        self.kind = crd["spec"]["names"]["kind"]
        self.schemas = {
            version["name"]: _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            for version in crd["spec"]["versions"]
            if version.get("served")
        }
        for schema in self.schemas.values():
            KubernetesValidator.check_schema(schema)

    def errors(self, manifest: dict) -> list[str]:
        """What the API server would refuse in ``manifest``, one line each (empty: valid)."""
        group, _, version = str(manifest.get("apiVersion", "")).rpartition("/")
        if group != self.group or version not in self.schemas:
            return [f"apiVersion: {manifest.get('apiVersion')!r} is not one of {self.group}/{sorted(self.schemas)}"]
        found = []
        if manifest.get("kind") != self.kind:
            found.append(f"kind: {manifest.get('kind')!r} is not {self.kind!r}")
        name = (manifest.get("metadata") or {}).get("name")
        if not isinstance(name, str) or len(name) > 63 or not NAME.match(name):
            found.append(f"metadata.name: {name!r} is not a DNS-1123 label")
        validator = KubernetesValidator(self.schemas[version], format_checker=_format_checker())
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))):
            found.append(f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
        return found
