#!/usr/bin/env bash
# The GPU checks, run on a machine with an NVIDIA GPU (see docs/benchmarks.md).
# usage: scripts/gpu-check.sh OUT_DIR BACKEND_TESTS_DIR STEP...
#   build        build kiln with the CUDA backend (build-gpu/) and run the unit tests
#   models       bench/gpu_models.py: ResNet-50, MobileNetV2, BERT-base against PyTorch
#   conformance  the ONNX suite on the CPU and with --backend cuda (same machine)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$1
tests=$2
shift 2
mkdir -p "$out"
runner=build-gpu/tests/onnx/kiln_conformance
for step in "$@"; do
  case $step in
  build)
    nvidia-smi -L || true
    gen=""; command -v ninja >/dev/null && gen="-G Ninja"
    cmake -S . -B build-gpu $gen -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON \
      -DKILN_SHARED_DIR="$(dirname "$tests")" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
    cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -40; exit 1; }
    (cd build-gpu && ctest -L 'unit|example' --output-on-failure >"$out/unit.log" 2>&1)
    echo "unit tests: $(grep -E 'tests passed|tests failed' "$out/unit.log")"
    ;;
  models)
    PYTHONUNBUFFERED=1 timeout 480 python3 bench/gpu_models.py --kiln build-gpu/tools/kiln/kiln \
      --out "$out/gpu-bench" >"$out/models.log" 2>&1
    tail -16 "$out/models.log"
    ;;
  conformance)
    # CUDA cannot be used in a forked child of a process that initialized it: the CUDA
    # suite runs in-process, one shard per letter, so a crash costs one shard only.
    : >"$out/cuda.tsv"
    for suite in node simple pytorch-operator; do
      "$runner" --quiet --results "$out/cpu_$suite.tsv" "$tests/$suite" | tail -1 | sed "s/^/cpu $suite: /"
      for l in a b c d e f g h i j k l m n o p q r s t u v w x y z; do
        timeout 120 "$runner" --backend cuda --no-fork --quiet --filter "test_$l" \
          --results "$out/cuda_${suite}_$l.tsv" "$tests/$suite" >"$out/cuda_${suite}_$l.log" 2>&1 ||
          echo "cuda $suite shard $l: exit $? ($(tail -c 300 "$out/cuda_${suite}_$l.log" | tr '\n' ' '))"
        cat "$out/cuda_${suite}_$l.tsv" >>"$out/cuda.tsv" 2>/dev/null
      done
    done
    cat "$out"/cpu_*.tsv >"$out/cpu.tsv"
    python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
def load(p):
    return {l.split("\t")[1]: l.split("\t")[0] for l in open(p) if l.strip()}
cpu, cuda = load(f"{out}/cpu.tsv"), load(f"{out}/cuda.tsv")
passing = [t for t, s in cpu.items() if s == "PASS"]
ok = [t for t in passing if cuda.get(t) == "PASS"]
print(f"conformance: {len(passing)} tests pass on the CPU; {len(ok)} of them pass with --backend cuda")
print("not passing on cuda:", " ".join(t for t in passing if cuda.get(t) != "PASS")[:1500])
PY
    grep -h "^FAIL" "$out"/cuda_*.log | cut -c1-200 | head -25
    ;;
  esac
done
