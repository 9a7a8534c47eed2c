# What the command-line tests share (sourced, with the test's arguments KILN_BINARY
# ONNX_BACKEND_TESTS_DIR): $KILN and $DATA from them, `require` for the files a test needs,
# a temporary folder $TMP, pass/fail counts, `run` for one kiln subcommand ($KILN
# $SUBCOMMAND) keeping its output, `expect` on that output, and `finish`, the summary and
# exit status. Set SUBCOMMAND first.

if [[ $# -ne 2 ]]; then
    echo "usage: $0 KILN_BINARY ONNX_BACKEND_TESTS_DIR" >&2
    exit 2
fi
KILN=$1
DATA=$2

# require FILE...: each exists, else the test cannot run.
require() {
    local f
    for f in "$@"; do
        [[ -e $f ]] || { echo "missing: $f" >&2; exit 1; }
    done
}
require "$KILN"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILURES=0
PASSES=0

fail() {
    echo "FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}
pass() {
    echo "ok: $*"
    PASSES=$((PASSES + 1))
}

# run NAME EXPECTED_RC ARGS...: runs kiln $SUBCOMMAND, keeping stdout and stderr in
# $TMP/NAME.*; 1 (and a failure) when the exit status is not the expected one.
run() {
    local name=$1 want=$2 rc=0
    shift 2
    "$KILN" "$SUBCOMMAND" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
    if [[ $rc -ne $want ]]; then
        fail "$name: exit status $rc, expected $want; stderr: $(head -c 500 "$TMP/$name.err")"
        return 1
    fi
}

# expect NAME STREAM TEXT: the output holds TEXT (fixed string).
expect() {
    local name=$1 stream=$2 text=$3
    if grep -qF -- "$text" "$TMP/$name.$stream"; then
        pass "$name: $stream has '$text'"
    else
        fail "$name: $stream lacks '$text'"
        head -n 40 "$TMP/$name.$stream" | sed "s/^/    | /" >&2
    fi
}

finish() {
    echo "$PASSES passed, $FAILURES failed"
    [[ $FAILURES -eq 0 ]]
}
