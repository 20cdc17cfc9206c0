#!/usr/bin/env bash
# The GPU benchmarks, for a machine with an NVIDIA GPU (under 5 minutes: the timeout is 290 s).
#
#   benchmarks/gpu.sh                 # after `make setup`; WORK_DIR and PYTHON may be set
#
# Checks that ONNX Runtime really runs on CUDA (in process and in the server, which runs with
# --strict-device), then prints and writes (WORK_DIR/gpu.json, WORK_DIR/gpu.md): resnet50
# images/s at batch 1, 8 and 64 in process (the server's Model.run, IOBinding on CUDA) and
# through `convzoo serve`, and the dynamic batching gain with 16 concurrent batch-1 clients;
# then resnet50 fp16 vs fp32 on the CUDA provider at batch 1 and 8 (precision case).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORK_DIR=${WORK_DIR:-out/bench}
DEVICE=${DEVICE:-cuda:0}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PYTHON" -c '
import onnxruntime as ort
from convzoo.base.device import DeviceRequest
found = DeviceRequest.parse("auto").resolve_auto()  # runs a probe session; CPU if CUDA fell back
print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers(), "-> serving on", found.kind)
raise SystemExit(0 if found.kind == "cuda" else "ONNX Runtime cannot run on CUDA here (see its log above)")
'
timeout 290 "$PYTHON" -m benchmarks --cases gpu,precision --device "$DEVICE" --rounds 3 --seconds 1 \
  --work-dir "$WORK_DIR" --output "$WORK_DIR/gpu.json" --markdown "$WORK_DIR/gpu.md"
