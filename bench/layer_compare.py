#!/usr/bin/env python3
"""Per-layer times of kiln and ONNX Runtime on the same model, side by side.

kiln: `kiln bench MODEL --profile` (the average time of each layer over the runs).
ORT:  an InferenceSession with profiling on (CPUExecutionProvider, the same thread count,
      ORT_ENABLE_ALL), the median of each node's kernel time over the runs.

The two engines fuse differently and ORT renames the nodes it rewrites (NCHWc convolutions
are named after their output), so layers are matched by position among the layers of the
chosen op types (default: Conv, Gemm, MatMul and ORT's fused forms of them), which holds
for models where both engines keep one layer per such node. Per-op-type totals of both
engines follow. ORT's per-node times include its profiler's own cost (a few microseconds
per node): compare end-to-end latency with bench/cpu_compare.py.

usage: layer_compare.py MODEL.onnx [--threads 2] [--runs 50] [--ops Conv,Gemm,MatMul]
                        [--input NAME=FILE.npy ...] [--kiln PATH]
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FUSED = {"FusedConv": "Conv", "FusedGemm": "Gemm", "FusedMatMul": "MatMul"}


def ort_profile(model, threads, runs, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = True
    folder = tempfile.mkdtemp(prefix="kiln-layer-compare-")
    so.profile_file_prefix = os.path.join(folder, "ort")
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    full = {}
    for i in sess.get_inputs():
        if i.name in feeds:
            full[i.name] = feeds[i.name]
            continue
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        if "int64" in i.type:
            full[i.name] = np.zeros(shape, np.int64)
        else:
            full[i.name] = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for _ in range(5):
        sess.run(None, full)
    for _ in range(runs):
        sess.run(None, full)
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    for p in glob.glob(os.path.join(folder, "*")):
        os.remove(p)
    os.rmdir(folder)
    times, ops, order = collections.defaultdict(list), {}, []
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        if name not in ops:
            order.append(name)
        times[name].append(e["dur"] / 1000.0)
        ops[name] = e["args"].get("op_name", "?")
    # the last `runs` calls of each node (the warm-up ones came first)
    return [(n, ops[n], float(np.median(times[n][-runs:]))) for n in order]


def kiln_profile(kiln, model, threads, runs, inputs):
    cmd = [kiln, "bench", model, "--threads", str(threads), "--batch", "1", "--warmup", "5",
           "--iterations", str(runs), "--profile"]
    for spec in inputs:
        cmd += ["--input", spec]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit("kiln bench failed: " + out.stderr.strip()[-600:])
    rows, in_table = [], False
    for line in out.stdout.splitlines():
        if line.startswith("layer") and line.rstrip().endswith("%"):
            in_table = True
            continue
        parts = line.split()
        if in_table and len(parts) >= 4 and parts[-1].endswith("%") and parts[0] != "total":
            rows.append((parts[0], parts[-3], float(parts[-2])))
    if not rows:
        raise SystemExit("kiln bench printed no layer profile")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--ops", default="Conv,Gemm,MatMul")
    ap.add_argument("--input", action="append", default=[], help="NAME=FILE.npy (both engines)")
    ap.add_argument("--kiln", default=os.path.join(REPO, "build", "tools", "kiln", "kiln"))
    args = ap.parse_args()
    feeds = {}
    for spec in args.input:
        name, path = spec.split("=", 1)
        feeds[name] = np.load(path)
    ops = set(args.ops.split(","))
    k = kiln_profile(args.kiln, args.model, args.threads, args.runs, args.input)
    o = ort_profile(args.model, args.threads, args.runs, feeds)
    kl = [r for r in k if r[1] in ops]
    ol = [r for r in o if FUSED.get(r[1], r[1]) in ops]
    print(f"{'layer (kiln name)':48s} {'kiln ms':>8s} {'ORT ms':>8s} {'kiln/ORT':>8s}")
    for (kn, _, kt), (_, _, ot) in zip(kl, ol):
        print(f"{kn[:48]:48s} {kt:8.3f} {ot:8.3f} {kt / ot if ot else float('nan'):8.2f}")
    if len(kl) != len(ol):
        print(f"(kiln has {len(kl)} such layers, ORT {len(ol)}: the pairing above is not reliable)")
    print(f"{'sum of these layers':48s} {sum(r[2] for r in kl):8.3f} {sum(r[2] for r in ol):8.3f}")
    print("\nper op type (ms per run)")
    for title, rows, fold in (("kiln", k, False), ("ORT", o, True)):
        tot = collections.defaultdict(float)
        cnt = collections.Counter()
        for _, op, t in rows:
            tot[op] += t
            cnt[op] += 1
        print(f"  {title}: " + ", ".join(f"{op} {tot[op]:.2f} ({cnt[op]})"
                                          for op in sorted(tot, key=lambda x: -tot[x])[:10])
              + f"; all {sum(tot.values()):.2f}")


if __name__ == "__main__":
    sys.exit(main())
