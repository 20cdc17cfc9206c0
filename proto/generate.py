"""Regenerate the Python protocol modules from the ``.proto`` files in this folder.

``python -m convzoo.proto.generate`` rewrites ``*_pb2.py``, ``*_pb2.pyi`` and
``*_pb2_grpc.py`` next to the ``.proto`` files; ``--out DIR`` writes them elsewhere (the
test that checks the committed files are current uses that). The ``.proto`` files are
compiled under the virtual path ``convzoo/proto/`` so the generated code imports
``from convzoo.proto import ..._pb2``, matching the installed package.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PROTOS = ("model_config.proto", "grpc_service.proto", "evaluation.proto")
# The protos that declare services: only these get a ``_pb2_grpc.py``.
SERVICE_PROTOS = ("grpc_service.proto", "evaluation.proto")
VIRTUAL_DIR = "convzoo/proto"


def generate(out_dir: Path, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Compile ``PROTOS`` into ``out_dir``; returns the files written."""
    from grpc_tools import protoc

    well_known = str(files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as scratch:
        include = [f"-I{VIRTUAL_DIR}={proto_dir}", f"-I{well_known}"]
        for outputs, names in (
            ([f"--python_out={scratch}", f"--pyi_out={scratch}"], PROTOS),
            ([f"--grpc_python_out={scratch}"], SERVICE_PROTOS),
        ):
            args = ["protoc", *include, *outputs, *(f"{VIRTUAL_DIR}/{name}" for name in names)]
            if protoc.main(args) != 0:
                raise RuntimeError(f"protoc failed: {' '.join(args)}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((Path(scratch) / VIRTUAL_DIR).iterdir()):
            target = out_dir / path.name
            shutil.copyfile(path, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_DIR, help="output folder (default: next to the .proto files)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
