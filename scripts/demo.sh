#!/usr/bin/env bash
# kiln's main job on the bundled model: build an engine from models/digits/digits.onnx,
# save its plan, load the plan, classify 64 handwritten digits and print the accuracy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
if [ -d /usr/local/cuda/bin ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target kiln_cli >/dev/null
kiln=build/tools/kiln/kiln
echo "== kiln build: ONNX -> engine -> plan"
$kiln build models/digits/digits.onnx -o build/digits.plan --max-batch 64
echo "== kiln run: plan -> engine -> 64 test digits"
$kiln run build/digits.plan --input image=models/digits/samples/batch.npy \
  --labels models/digits/samples/batch_labels.npy --output-dir build/digits-out
