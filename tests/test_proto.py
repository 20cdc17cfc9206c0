"""The protocol files: generated code is current, its runtime needs fit pyproject, and the
wire format matches tritonclient's copy of Triton's protos field for field."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib

from convzoo.proto import generate, grpc_service_pb2, grpc_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]


def _floor(requirement_name: str) -> tuple[int, ...]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(rf"{re.escape(requirement_name)}>=([\d.]+)(,.*)?", dep.replace(" ", ""))
        if match:
            return tuple(int(part) for part in match.group(1).split("."))
    raise AssertionError(f"no {requirement_name}>= floor in pyproject dependencies")


def test_generated_code_is_current(tmp_path):
    written = generate.generate(tmp_path)
    committed = sorted(p.name for p in generate.PROTO_DIR.glob("*_pb2*.py*"))
    assert sorted(p.name for p in written) == committed
    for path in written:
        assert path.read_text() == (generate.PROTO_DIR / path.name).read_text(), (
            f"{path.name} is stale: run python -m convzoo.proto.generate"
        )


def test_generated_code_runtime_needs_fit_pyproject():
    pb2_source = Path(grpc_service_pb2.__file__).read_text()
    gencode = re.search(r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", pb2_source)
    assert gencode, "generated code no longer validates its protobuf runtime version"
    assert tuple(int(g) for g in gencode.groups()) <= _floor("protobuf")
    grpc_generated = tuple(int(p) for p in grpc_service_pb2_grpc.GRPC_GENERATED_VERSION.split("."))
    assert grpc_generated <= _floor("grpcio")


_DUMP = """
import json, sys
from importlib import import_module
def walk(d, out):
    out[d.full_name] = {f.name: [f.number, f.type, f.is_repeated] for f in d.fields}
    for nested in d.nested_types:
        walk(nested, out)
out = {}
for name in sys.argv[1:]:
    fd = import_module(name).DESCRIPTOR
    for d in fd.message_types_by_name.values():
        walk(d, out)
    for e in fd.enum_types_by_name.values():
        out[e.full_name] = {v.name: [v.number] for v in e.values}
    for d in fd.message_types_by_name.values():
        for e in d.enum_types:
            out[e.full_name] = {v.name: [v.number] for v in e.values}
    for s in fd.services_by_name.values():
        out[s.full_name] = {m.name: [m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming] for m in s.methods}
json.dump(out, sys.stdout)
"""


def _descriptors(*modules: str) -> dict:
    # Two generated copies of package ``inference`` clash in one process: one each.
    run = subprocess.run([sys.executable, "-c", _DUMP, *modules], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_wire_format_matches_triton():
    ours = _descriptors("convzoo.proto.grpc_service_pb2", "convzoo.proto.model_config_pb2")
    triton = _descriptors("tritonclient.grpc.service_pb2", "tritonclient.grpc.model_config_pb2")
    checked = 0
    for full_name, fields in ours.items():
        assert full_name in triton, f"{full_name} does not exist in Triton's protocol"
        for field, signature in fields.items():
            assert triton[full_name].get(field) == signature, (
                f"{full_name}.{field}: ours {signature}, Triton {triton[full_name].get(field)}"
            )
            checked += 1
    assert checked > 150
