#!/usr/bin/env bash
# The GPU checks, run on a machine with an NVIDIA GPU (see docs/benchmarks.md):
#   1. build kiln with the CUDA backend;
#   2. the unit tests;
#   3. the ONNX conformance suite on the CPU and with --backend cuda (same machine);
#   4. bench/gpu_models.py: ResNet-50, MobileNetV2, BERT-base against PyTorch.
# usage: scripts/gpu-check.sh OUT_DIR [BACKEND_TESTS_DIR]   (prints a summary last)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-gpu-out}
tests=${2:-$root/../shared/onnx-backend-tests}
mkdir -p "$out"
nvidia-smi -L || true
gen=""; command -v ninja >/dev/null && gen="-G Ninja"
cmake -S . -B build-gpu $gen -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON \
  -DKILN_SHARED_DIR="$(dirname "$tests")" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -40; exit 1; }
(cd build-gpu && ctest -L 'unit|example' --output-on-failure >"../$out/unit.log" 2>&1); echo "unit tests: $(tail -1 "$out/unit.log" 2>/dev/null) $(grep -c Passed "$out/unit.log") passed"
runner=build-gpu/tests/onnx/kiln_conformance
# CUDA cannot be used in a forked child of a process that initialized it: run the CUDA
# suite in-process, one shard per letter, so a crash costs one shard only.
: >"$out/cuda.tsv"
for suite in node simple pytorch-operator; do
  "$runner" --quiet --results "$out/cpu_$suite.tsv" "$tests/$suite" | tail -1 | sed "s/^/cpu $suite: /"
  for l in a b c d e f g h i j k l m n o p q r s t u v w x y z; do
    timeout 300 "$runner" --backend cuda --no-fork --quiet --filter "test_$l" \
      --results "$out/cuda_${suite}_$l.tsv" "$tests/$suite" >"$out/cuda_${suite}_$l.log" 2>&1 ||
      echo "cuda $suite shard $l: exit $? ($(tail -c 300 "$out/cuda_${suite}_$l.log" | tr '\n' ' '))"
    cat "$out/cuda_${suite}_$l.tsv" >>"$out/cuda.tsv" 2>/dev/null
  done
done
cat "$out"/cpu_*.tsv >"$out/cpu.tsv"
python3 - "$out" <<'PY'
import sys, collections
out = sys.argv[1]
def load(p):
    return {l.split("\t")[1]: l.split("\t")[0] for l in open(p) if l.strip()}
cpu, cuda = load(f"{out}/cpu.tsv"), load(f"{out}/cuda.tsv")
both = [t for t, s in cpu.items() if s == "PASS"]
ok = [t for t in both if cuda.get(t) == "PASS"]
print(f"conformance: {len(both)} tests pass on the CPU; {len(ok)} of them pass with --backend cuda")
bad = [t for t in both if cuda.get(t) != "PASS"]
print("not passing on cuda (first 40):", " ".join(bad[:40]))
PY
grep -h "^FAIL" "$out"/cuda_*.log | cut -c1-220 | head -30
PYTHONUNBUFFERED=1 timeout 900 python3 bench/gpu_models.py --kiln build-gpu/tools/kiln/kiln --out "$out/gpu-bench" 2>&1 | tail -25
