#!/bin/sh
# The image's one install step, shared by build.sh (into a root filesystem, from outside it) and
# the Dockerfile (inside the image): convzoo's wheel and its serving dependencies, no torch.
#
#   install.sh [--root ROOT] RUNTIME WHEEL
#
# RUNTIME is the ONNX Runtime build: `onnxruntime` for the CPU image (the CUDA build's 270 MB
# CUDA provider cannot load without CUDA's libraries), `onnxruntime-gpu` for the GPU image (what
# the wheel itself asks for). Every other dependency is the wheel's own, read from its metadata.
# With --root, $PYTHON (default python3: a CPython 3.11 on x86_64 glibc, the ABI of Debian
# bookworm's python3) installs binary wheels only into ROOT/usr/local/lib/python3.11/dist-packages,
# where ROOT's /usr/bin/python3 finds them, and the console command goes to ROOT/usr/local/bin.
# Without it, the running image's pip installs into its own Python.
set -eu
PYTHON=${PYTHON:-python3}
ROOT=
if [ "${1:-}" = --root ]; then ROOT=$2; shift 2; fi
[ $# = 2 ] || { echo "usage: install.sh [--root ROOT] onnxruntime|onnxruntime-gpu WHEEL" >&2; exit 2; }
RUNTIME=$1
WHEEL=$2
case $RUNTIME in onnxruntime | onnxruntime-gpu) ;; *) echo "install.sh: unknown runtime $RUNTIME" >&2; exit 2 ;; esac

REQUIREMENTS=$(mktemp)
trap 'rm -f "$REQUIREMENTS"' EXIT
# The wheel's Requires-Dist without extras, onnxruntime-gpu replaced by the chosen runtime.
"$PYTHON" - "$WHEEL" "$RUNTIME" >"$REQUIREMENTS" <<'PY'
import re
import sys
import zipfile
from email.parser import Parser

wheel, runtime = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(archive.read(name).decode())
for requirement in metadata.get_all("Requires-Dist") or []:
    if "extra ==" in requirement:
        continue
    print(re.sub(r"^onnxruntime-gpu\b", runtime, requirement))
PY

PIP="$PYTHON -m pip --disable-pip-version-check install --only-binary=:all:"
if [ -z "$ROOT" ]; then
  $PIP --no-cache-dir --requirement "$REQUIREMENTS"
  $PIP --no-cache-dir --no-deps "$WHEEL"
  exit 0
fi
TARGET=$ROOT/usr/local/lib/python3.11/dist-packages
# --no-warn-conflicts: pip would compare TARGET's packages with those of $PYTHON's own environment.
$PIP --quiet --no-warn-conflicts --target "$TARGET" --requirement "$REQUIREMENTS"
# --upgrade replaces TARGET/bin, the dependencies' console scripts, with convzoo's alone.
$PIP --quiet --no-warn-conflicts --target "$TARGET" --upgrade --no-deps "$WHEEL"
mkdir -p "$ROOT/usr/local/bin"
sed '1s|^#!.*|#!/usr/bin/python3|' "$TARGET/bin/convzoo" >"$ROOT/usr/local/bin/convzoo"
chmod 755 "$ROOT/usr/local/bin/convzoo"
rm -r "$TARGET/bin"
