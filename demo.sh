#!/usr/bin/env bash
# The main job, end to end: export -> serve -> evaluate -> compare (what `make demo` runs).
#
# Exports AlexNet, VGG-16 and ResNet-50 (seeded random weights: this machine reaches no
# model hub; pass WEIGHTS=DEFAULT where download.pytorch.org is reachable), writes a small
# stand-in validation set, serves the repository over gRPC, evaluates every model through
# the server (plus ResNet-50 in-process and inside the server, which must agree to the last
# digit), and prints the comparison table. Everything lands in $OUT (default: out/).
set -euo pipefail
cd "$(dirname "$0")"
BIN=${VENV:-.venv}/bin
OUT=${OUT:-out}
IMAGES=${IMAGES:-64}
WEIGHTS=${WEIGHTS:-random}
PLUGINS=top1,top5,per_class,calibration,real,latency
mkdir -p "$OUT/reports"

echo "== export"
"$BIN/python" -m convzoo.demo.export --repository "$OUT/repository" --weights "$WEIGHTS"

echo "== data"
"$BIN/python" -m convzoo.demo.sample_data "$OUT/data" --images "$IMAGES"

echo "== serve"
"$BIN/convzoo" serve --repository "$OUT/repository" --port 0 --http-port 0 --metrics-port 0 \
    --dataset "sample=$OUT/data" >"$OUT/serve.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
port=""
for _ in $(seq 300); do
    port=$(sed -n 's/.*gRPC listening on [0-9.]*:\([0-9]*\).*/\1/p' "$OUT/serve.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 $server 2>/dev/null || { cat "$OUT/serve.log"; exit 1; }
    sleep 0.2
done
[ -n "$port" ] || { echo "the server did not start; see $OUT/serve.log"; exit 1; }
address=127.0.0.1:$port
"$BIN/python" - "$address" <<'PY'
import sys, time
from convzoo.client.inference import InferenceClient
with InferenceClient(sys.argv[1]) as client:
    deadline = time.monotonic() + 300
    while not client.ready():  # ServerReady turns true once every model has loaded
        if time.monotonic() > deadline:
            sys.exit("the server's models did not become ready within 300 s")
        time.sleep(0.5)
PY
grep -E "loaded model|serving on" "$OUT/serve.log" || true

echo "== evaluate"
for model in alexnet vgg16 resnet50; do
    "$BIN/convzoo" eval --server "$address" --model "$model" --data "$OUT/data" \
        --plugins "$PLUGINS" --output "$OUT/reports/$model.json" --no-progress
done
"$BIN/convzoo" eval --model "$OUT/repository/resnet50/1/model.onnx" --data "$OUT/data" \
    --plugins top1,top5 --output "$OUT/resnet50-in-process.json" --no-progress
"$BIN/convzoo" eval --server "$address" --remote --model resnet50 --data sample \
    --plugins top1,top5 --output "$OUT/resnet50-in-server.json" --no-progress
"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
runs = {name: json.load(open(f"{out}/{name}.json"))["metrics"]
        for name in ("reports/resnet50", "resnet50-in-process", "resnet50-in-server")}
top = {name: (m["top1"], m["top5"]) for name, m in runs.items()}
print("resnet50 top-1/top-5 via gRPC, in-process, inside the server:", top)
sys.exit(0 if len(set(top.values())) == 1 else "the three backends disagree")
PY

kill -TERM $server; wait $server; trap - EXIT
echo "== compare"
"$BIN/convzoo" compare "$OUT"/reports/*.json --output "$OUT/compare.md" --plot "$OUT/compare.png"
