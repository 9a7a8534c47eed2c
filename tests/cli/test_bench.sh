#!/usr/bin/env bash
# Tests `kiln bench` on models of the ONNX backend test data: the summary, --json (to a file
# and alone on stdout), --profile, --input, --int-range, and bad input and options.
# usage: test_bench.sh PATH/TO/kiln PATH/TO/onnx-backend-tests
set -euo pipefail

SUBCOMMAND=bench
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
CONV=$DATA/node/test_conv_with_strides_padding/model.onnx
GATHER=$DATA/node/test_gather_0/model.onnx # data [5,4,3,2] float, indices [3] int64
require "$CONV" "$GATHER"
command -v python3 >/dev/null || { echo "python3 is needed to read the JSON" >&2; exit 1; }

# check_json NAME FILE ITERATIONS: the figures are there, ordered, and count the runs.
check_json() {
    local name=$1 file=$2 iterations=$3
    if python3 - "$file" "$iterations" <<'EOF'; then
import json, sys
j = json.load(open(sys.argv[1]))
lat = j["latency_ms"]
assert j["iterations"] == int(sys.argv[2]), j["iterations"]
assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
assert lat["min"] <= lat["mean"] <= lat["max"], lat
assert j["throughput_qps"] > 0
EOF
        pass "$name: JSON figures"
    else
        fail "$name: JSON figures ($file)"
    fi
}

# --- the summary, and the JSON written to a file
if run conv 0 "$CONV" --iterations 25 --warmup 2 --json "$TMP/conv.json"; then
    expect conv out "=== Performance summary"
    expect conv out "Iterations: 25"
    expect conv out "Latency (ms): min"
    check_json conv "$TMP/conv.json" 25
fi

# --- --json -: stdout is the JSON alone, the summary goes to stderr
if run conv_stdout 0 "$CONV" --iterations 7 --json -; then
    check_json conv_stdout "$TMP/conv_stdout.out" 7
    expect conv_stdout err "=== Performance summary"
fi

# --- --profile: every layer with its op and time
if run profile 0 "$CONV" --iterations 5 --profile; then
    expect profile out "=== Layer profile"
    expect profile out "Conv"
fi

# --- integer inputs: the default fill (0..99) indexes past axis 0 (size 5): a clear error
# naming the node, and the way out
if run gather_default 1 "$GATHER" --iterations 3; then
    expect gather_default err "out of range for axis 0 of size 5"
    expect gather_default err "integer inputs were filled with 0..99"
    expect gather_default err "--int-range LO,HI"
fi
if run gather_range 0 "$GATHER" --iterations 3 --int-range 0,4; then
    expect gather_range out "Iterations: 3"
fi
run gather_range_past 1 "$GATHER" --iterations 3 --int-range 5,9 || true
if run gather_range_negative 0 "$GATHER" --iterations 3 --int-range -5,-1; then
    expect gather_range_negative out "Iterations: 3" # negative indices count from the end
fi

# write_npy FILE DESCR STRUCT_FORMAT VALUES...: a 1-D .npy of the values (e.g. '<i8' '<3q').
write_npy() {
    python3 - "$@" <<'EOF'
import struct, sys
path, descr, fmt, values = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
cast = float if descr[1] == "f" else int
header = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % (descr, len(values))
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack(fmt, *map(cast, values)))
EOF
}

# --- --input: real values from a .npy (int64 indices 0, 4, 2)
write_npy "$TMP/indices.npy" '<i8' '<3q' 0 4 2
if run gather_input 0 "$GATHER" --iterations 3 --input "indices=$TMP/indices.npy"; then
    expect gather_input out "Iterations: 3"
fi
# a file of the wrong dtype is refused, naming both
write_npy "$TMP/float.npy" '<f4' '<3f' 0 1 2
if run gather_input_dtype 1 "$GATHER" --iterations 3 --input "indices=$TMP/float.npy"; then
    expect gather_input_dtype err "input 'indices' is int64"
fi

# --- bad options and files
if run range_order 2 "$GATHER" --int-range 5,1; then
    expect range_order err "--int-range takes LO,HI"
fi
run range_form 2 "$GATHER" --int-range 3 || true
run range_int32 2 "$GATHER" --int-range 0,99999999999 || true
if run unknown 2 "$CONV" --frobnicate; then
    expect unknown err "unknown option '--frobnicate'"
fi
run no_model 2 --iterations 3 || true
if run missing 1 "$TMP/none.onnx" --iterations 3; then
    expect missing err "none.onnx"
fi
printf 'not an onnx file' >"$TMP/bad.onnx"
run bad_file 1 "$TMP/bad.onnx" --iterations 3 || true

finish
