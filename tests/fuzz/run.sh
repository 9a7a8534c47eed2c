#!/usr/bin/env bash
# Runs a fuzz target for a fixed time, seeded from the ONNX backend test data.
# usage: tests/fuzz/run.sh FUZZER_BINARY SECONDS [BACKEND_TESTS_DIR]
set -euo pipefail
fuzzer=$1
seconds=$2
tests=${3:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/onnx-backend-tests}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# Seeds: every model and a sample of the .pb value files (small files fuzz fastest).
i=0
while IFS= read -r f; do
  cp "$f" "$corpus/seed_$i"
  i=$((i + 1))
done < <(find "$tests" \( -name model.onnx -size -64k \) -o \( -name '*.pb' -size -4k \) | sort | awk 'NR % 3 == 0')
echo "fuzz: $i seeds, ${seconds}s"
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus"
