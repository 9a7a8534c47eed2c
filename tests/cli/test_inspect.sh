#!/usr/bin/env bash
# Tests `kiln inspect` on real models of the ONNX backend test data.
# usage: test_inspect.sh PATH/TO/kiln PATH/TO/onnx-backend-tests
set -euo pipefail

SUBCOMMAND=inspect
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
CONV=$DATA/node/test_conv_with_strides_padding/model.onnx
IF_MODEL=$DATA/node/test_if/model.onnx
LOOP=$DATA/node/test_loop11/model.onnx
require "$CONV" "$IF_MODEL" "$LOOP"

# --- a plain model: ops, names, shapes
if run conv 0 "$CONV"; then
    expect conv out "Conv"
    expect conv out "x  float32  [1, 1, 7, 5]"
    expect conv out "W  float32  [1, 1, 3, 3]"
    expect conv out "y  float32  [1, 1, 4, 3]"
    expect conv out "Inputs (2):"
    expect conv out "ai.onnx"
fi
if run conv_nodes 0 --nodes "$CONV"; then
    expect conv_nodes out "Conv: x, W -> y"
    expect conv_nodes out "strides=[2, 2]"
    expect conv_nodes out "pads=[1, 1, 1, 1]"
fi

# --- subgraphs: the Constant nodes live in the If's branches and must be counted
if run if 0 "$IF_MODEL"; then
    expect if out "3 nodes (2 in 2 subgraphs)"
    if grep -qE '^  Constant +2$' "$TMP/if.out"; then
        pass "if: Constant counted twice"
    else
        fail "if: the histogram does not count the subgraphs' Constant nodes"
    fi
fi
if run if_nodes 0 --nodes "$IF_MODEL"; then
    expect if_nodes out "then_branch=<graph then_body: 1 node>"
    expect if_nodes out "        [0] Constant: (none) -> then_out"
fi

# --- JSON: valid, with the documented keys and values
if run loop_json 0 --json "$LOOP"; then
    if python3 -m json.tool "$TMP/loop_json.out" >/dev/null; then
        pass "loop_json: valid JSON"
    else
        fail "loop_json: invalid JSON"
    fi
    if python3 - "$TMP/loop_json.out" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
for key in ("file", "file_size", "ir_version", "producer_name", "producer_version", "domain",
            "model_version", "opsets", "metadata", "functions", "inputs", "outputs",
            "op_histogram", "parameters"):
    assert key in d, key
assert d["opsets"] == [{"domain": "ai.onnx", "version": 11}], d["opsets"]
assert [i["name"] for i in d["inputs"]] == ["trip_count", "cond", "y"], d["inputs"]
assert d["inputs"][2] == {"name": "y", "type": "tensor(float32)", "dtype": "float32",
                          "shape": [1]}, d["inputs"][2]
assert d["outputs"][1]["shape"] == [5, 1], d["outputs"]
assert d["op_histogram"] == {"Add": 2, "Constant": 2, "Identity": 2, "Unsqueeze": 2,
                             "Loop": 1, "Slice": 1}, d["op_histogram"]
assert d["node_count"] == 10 and d["subgraph_node_count"] == 9
p = d["parameters"]
assert (p["count"], p["bytes"], p["initializers"], p["external"]) == (0, 0, 0, 0), p
assert "nodes" not in d
EOF
        pass "loop_json: keys and values"
    else
        fail "loop_json: keys and values"
    fi
fi
if run conv_json_nodes 0 --json --nodes "$CONV"; then
    if python3 - "$TMP/conv_json_nodes.out" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
(node,) = d["nodes"]
assert node["op_type"] == "Conv" and node["inputs"] == ["x", "W"] and node["outputs"] == ["y"]
assert node["attributes"]["strides"] == [2, 2], node["attributes"]
assert node["attributes"]["kernel_shape"] == [3, 3], node["attributes"]
assert d["initializers"] == []
EOF
        pass "conv_json_nodes: node attributes"
    else
        fail "conv_json_nodes: node attributes"
    fi
fi
if run loop_json_nodes 0 --json --nodes "$LOOP"; then
    if python3 - "$TMP/loop_json_nodes.out" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
body = d["nodes"][0]["attributes"]["body"]
assert body["kind"] == "graph" and body["node_count"] == 9, body
assert [n["op_type"] for n in body["nodes"]][:3] == ["Identity", "Constant", "Constant"]
EOF
        pass "loop_json_nodes: subgraph nodes"
    else
        fail "loop_json_nodes: subgraph nodes"
    fi
fi

# --- failures: a truncated model, a missing file, bad usage
head -c 120 "$CONV" >"$TMP/truncated.onnx"
if run truncated 1 "$TMP/truncated.onnx"; then
    expect truncated err "kiln: error:"
    expect truncated err "byte offset"
fi
if run missing 1 "$TMP/no-such-model.onnx"; then
    expect missing err "$TMP/no-such-model.onnx"
fi
run bogus 2 --bogus "$CONV" && expect bogus err "usage:"
run no_model 2 && expect no_model err "usage:"
run help 0 --help && expect help out "usage: kiln inspect"

finish
