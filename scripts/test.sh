#!/usr/bin/env bash
# Builds kiln and runs every test, doing its own set-up on a fresh Debian 12 machine:
#   1. a Python virtual environment (.venv) with what the tests need (numpy, onnx, pytest);
#   2. the release build (warnings are errors; the CUDA backend too where nvcc is found),
#      and all CTest tests;
#   3. a clang build with AddressSanitizer + UBSan running the unit and reader tests, and
#      the ONNX-reader fuzzer for a fixed time.
# Environment: KILN_JOBS (parallel jobs), KILN_FUZZ_SECONDS (default 60), KILN_SKIP_ASAN=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${KILN_JOBS:-$(nproc)}
fuzz_seconds=${KILN_FUZZ_SECONDS:-60}

if [ ! -d ../shared/onnx-backend-tests ]; then
  echo "test.sh: ../shared/onnx-backend-tests is missing (the ONNX backend test data)" >&2
  exit 1
fi

scripts/install-deps.sh
scripts/setup-python.sh
export PATH="$root/.venv/bin:$PATH"

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=ON \
  -DPython3_EXECUTABLE="$root/.venv/bin/python3"
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

if [ "${KILN_SKIP_ASAN:-0}" != 1 ]; then
  echo "== AddressSanitizer + UBSan build (clang)"
  CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_WERROR=ON -DKILN_CUDA=OFF \
    -DKILN_SANITIZE=address,undefined -DKILN_FUZZ=ON \
    -DPython3_EXECUTABLE="$root/.venv/bin/python3"
  cmake --build build-asan -j "$jobs"
  (cd build-asan && LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
    ctest --output-on-failure -j "$jobs" -L 'unit|onnx')
  echo "== fuzzing the ONNX reader for ${fuzz_seconds}s"
  tests/fuzz/run.sh build-asan/tests/fuzz/fuzz_onnx_reader "$fuzz_seconds"
fi
echo "== all tests passed"
