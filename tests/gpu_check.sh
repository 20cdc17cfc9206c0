#!/usr/bin/env bash
# GPU check for `convzoo serve` (about a minute; needs an NVIDIA GPU with the CUDA 13 and
# cuDNN 9 libraries that onnxruntime-gpu loads, and `make setup` done).
#
# Inside the GPU serving image (deploy/image/Dockerfile.gpu, no torch): export the model outside
# (the `convzoo export resnet18 ...` line below, into a folder) and pass that repository and the
# image's Python: REPOSITORY=/mnt/models VENV_BIN=/opt/convzoo/bin tests/gpu_check.sh
#
# Exports a small ResNet-18 (random weights, 64 px, so convolutions exercise cuDNN), serves
# it twice from one repository: `--device cuda:0 --strict-device` (a CPU fallback fails the
# load instead of hiding) and `--device cpu`; shows the providers the CUDA server really
# uses, and compares the two servers' logits on the same batches within a tolerance.
# Exit code 0 only when CUDA served and the outputs agree.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN=${VENV_BIN:-.venv/bin}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi not found"
"$VENV_BIN/python" -c 'import onnxruntime as ort; print("onnxruntime", ort.__version__, ort.get_available_providers())'

REPOSITORY=${REPOSITORY:-}
if [ -z "$REPOSITORY" ]; then
  REPOSITORY=$WORK/repository
  "$VENV_BIN/convzoo" export resnet18 --num-classes 100 --input-size 64 --max-batch-size 16 \
    --repository "$REPOSITORY" >"$WORK/export.log" 2>&1 || { cat "$WORK/export.log"; exit 1; }
fi

# launch NAME ARGS...: runs convzoo serve on a free port, logging to $WORK/NAME.log.
launch() {
  local name=$1; shift
  "$VENV_BIN/convzoo" serve --repository "$REPOSITORY" --port 0 --metrics-port -1 "$@" 2>"$WORK/$name.log" &
  PIDS+=($!)
}

# port_of NAME: waits until that server is ready and prints its port.
port_of() {
  local name=$1
  for _ in $(seq 1 120); do
    if grep -q "server ready on" "$WORK/$name.log"; then
      grep -o "gRPC listening on [0-9.]*:[0-9]*" "$WORK/$name.log" | sed 's/.*://'
      return 0
    fi
    sleep 0.5
  done
  cat "$WORK/$name.log" >&2
  return 1
}

launch cuda --device cuda:0 --strict-device
launch cpu --device cpu
CUDA_PORT=$(port_of cuda)
CPU_PORT=$(port_of cpu)
echo "--- CUDA server log (model lines) ---"
grep -E "loaded model|UNAVAILABLE" "$WORK/cuda.log" || true

"$VENV_BIN/python" - "$CUDA_PORT" "$CPU_PORT" <<'PY'
import sys
import time

import numpy as np

from convzoo.proto import model_config_pb2 as mc
from convzoo.client.inference import InferenceClient

cuda = InferenceClient(f"127.0.0.1:{sys.argv[1]}")
cpu = InferenceClient(f"127.0.0.1:{sys.argv[2]}")
index = {m.name: m for m in cuda.repository_index()}
if index["resnet18"].state != "READY":
    sys.exit(f"FAIL: CUDA server did not load resnet18: {index['resnet18'].reason}")
(group,) = cuda.model_config("resnet18").instance_group
print("CUDA server instance group:", mc.ModelInstanceGroup.Kind.Name(group.kind), "gpus", list(group.gpus))
assert group.kind == mc.ModelInstanceGroup.KIND_GPU, "the CUDA server does not report a GPU instance"

rng = np.random.default_rng(0)
worst = 0.0
for size in (1, 4, 16):
    batch = rng.standard_normal((size, 3, 64, 64)).astype(np.float32)
    on_gpu, on_cpu = cuda.infer("resnet18", batch), cpu.infer("resnet18", batch)
    diff = float(np.max(np.abs(on_gpu - on_cpu)))
    scale = float(np.max(np.abs(on_cpu)))
    worst = max(worst, diff / max(scale, 1e-6))
    agree = float(np.mean(on_gpu.argmax(1) == on_cpu.argmax(1)))
    print(f"batch {size:2d}: max |cuda - cpu| = {diff:.3e} (max |logit| {scale:.3e}), top-1 agreement {agree:.0%}")
    assert np.allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3 * scale), "CUDA and CPU outputs differ beyond tolerance"

batch = rng.standard_normal((16, 3, 64, 64)).astype(np.float32)
for name, client in (("cuda", cuda), ("cpu", cpu)):
    client.infer("resnet18", batch)
    start = time.perf_counter()
    for _ in range(20):
        client.infer("resnet18", batch)
    print(f"{name}: {(time.perf_counter() - start) / 20 * 1000:.1f} ms per batch of 16 (through gRPC)")
print(f"OK: served on CUDA, outputs equal to CPU within tolerance (worst relative diff {worst:.2e})")
PY
