#!/usr/bin/env python3
"""kiln on NVIDIA GPUs against PyTorch, on ResNet-50, MobileNetV2 and BERT-base (seq 128).

Runs on a GPU machine with PyTorch, torchvision and transformers (no downloads: random
weights). For each model it exports ONNX with PyTorch, computes PyTorch's FP32 output
(TF32 off) as the reference, then for kiln in FP32 (TF32 off), TF32 and FP16:
  - runs the engine on the same input and reports the relative error ||kiln - ref|| / ||ref||
    against the limits 1e-5 (FP32), 5e-3 (TF32), 1e-2 (FP16);
  - times it with `kiln bench` (median latency);
and times PyTorch eager in FP32, TF32 and FP16 in the same run.

usage: gpu_models.py --kiln build/tools/kiln/kiln [--out DIR] [--models resnet50,mobilenet_v2,bert]
Prints a table and writes DIR/results.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

LIMITS = {"fp32": 1e-5, "tf32": 5e-3, "fp16": 1e-2}


def make_model(name):
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        m = torchvision.models.resnet50(weights=None)
        inputs = {"input": torch.randn(1, 3, 224, 224)}
    elif name == "mobilenet_v2":
        import torchvision
        m = torchvision.models.mobilenet_v2(weights=None)
        inputs = {"input": torch.randn(1, 3, 224, 224)}
    elif name == "bert":
        from transformers import BertConfig, BertModel
        cfg = BertConfig()  # bert-base: 12 layers, hidden 768, 12 heads
        cfg.attn_implementation = "eager"
        m = BertModel(cfg, add_pooling_layer=False)
        g = torch.Generator().manual_seed(0)
        inputs = {
            "input_ids": torch.randint(0, cfg.vocab_size, (1, 128), generator=g),
            "attention_mask": torch.ones(1, 128, dtype=torch.int64),
            "token_type_ids": torch.zeros(1, 128, dtype=torch.int64),
        }
    else:
        raise SystemExit(f"unknown model {name}")
    if name != "bert":
        # Random weights with BatchNorm's initial statistics let activations shrink layer
        # after layer (MobileNetV2's logits come out near 1e-8, below float16's range).
        # Calibrate the statistics on random images, as after training: activations of
        # ordinary size, for every precision.
        m.train()
        with torch.no_grad():
            for _ in range(4):
                m(torch.randn(16, 3, 224, 224))
    m.eval()
    return m, inputs


class FirstOutput(torch.nn.Module):
    """BERT returns a ModelOutput: export and compare its first tensor. Always in eval
    mode: torch.onnx.export restores the wrapper's training flag afterwards, recursively,
    so a wrapper left in training mode would put BatchNorm back on batch statistics."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.eval()

    def forward(self, *args):
        out = self.m(*args)
        return out[0] if isinstance(out, (tuple, list)) or hasattr(out, "last_hidden_state") else out


def export(model, inputs, path):
    names = list(inputs)
    torch.onnx.export(FirstOutput(model), tuple(inputs.values()), path, input_names=names,
                      output_names=["output"], opset_version=17, dynamo=False, do_constant_folding=True)


def torch_reference(model, inputs):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m = FirstOutput(model).cuda()
    with torch.no_grad():
        out = m(*[v.cuda() for v in inputs.values()])
    return out.float().cpu().numpy()


def torch_time(model, inputs, mode, iters=100):
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"
    m = FirstOutput(model).cuda()
    args = [v.cuda() for v in inputs.values()]
    if mode == "fp16":
        m = m.half()
        args = [a.half() if a.is_floating_point() else a for a in args]
    times = []
    with torch.no_grad():
        for _ in range(10):
            m(*args)
        torch.cuda.synchronize()
        for _ in range(iters):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            m(*args)
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
    return float(np.median(times))


def kiln_flags(mode):
    return {"fp32": ["--no-tf32"], "tf32": [], "fp16": ["--fp16"]}[mode]


def input_args(inputs, work):
    """Saves the inputs as .npy and returns the --input options naming them."""
    args = []
    for name, value in inputs.items():
        path = os.path.join(work, f"{name}.npy")
        np.save(path, value.numpy())
        args += ["--input", f"{name}={path}"]
    return args


def kiln_run(kiln, onnx_path, inputs, mode, work):
    args = [kiln, "run", onnx_path, "--device", "cuda", "--output-dir", work] + kiln_flags(mode)
    args += input_args(inputs, work)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()[-800:]
    return np.load(os.path.join(work, "output.npy")).astype(np.float32), None


def kiln_time(kiln, onnx_path, inputs, mode, work):
    """Median latency of `kiln bench` on the same inputs (token ids must be valid)."""
    out = os.path.join(work, f"bench_{mode}.json")
    args = [kiln, "bench", onnx_path, "--device", "cuda", "--duration", "2",
            "--json", out] + kiln_flags(mode) + input_args(inputs, work)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()[-800:]
    return json.load(open(out))["latency_ms"]["median"], None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--out", default="gpu-bench")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,bert")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d"), "models": {}}
    for name in args.models.split(","):
        work = os.path.join(args.out, name)
        os.makedirs(work, exist_ok=True)
        model, inputs = make_model(name)
        onnx_path = os.path.join(work, "model.onnx")
        t0 = time.time()
        export(model, inputs, onnx_path)
        ref = torch_reference(model, inputs)
        entry = {"export_s": round(time.time() - t0, 1), "kiln": {}, "torch_ms": {}}
        # Cross-checks of the reference itself: ONNX Runtime (CPU) on the exported file, and
        # kiln's CPU engine.
        try:
            import onnxruntime as ort
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            o = sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
            entry["ort_cpu_vs_torch"] = float(np.linalg.norm(o - ref) / np.linalg.norm(ref))
        except Exception as e:  # noqa: BLE001 - a missing peer is reported, not fatal
            entry["ort_cpu_vs_torch"] = f"unavailable: {e}"[:200]
        cpu_args = [args.kiln, "run", onnx_path, "--output-dir", os.path.join(work, "cpu")]
        r = subprocess.run(cpu_args + input_args(inputs, work), capture_output=True, text=True)
        if r.returncode == 0:
            kc = np.load(os.path.join(work, "cpu", "output.npy"))
            entry["kiln_cpu_vs_torch"] = float(np.linalg.norm(kc - ref) / np.linalg.norm(ref))
        else:
            entry["kiln_cpu_vs_torch"] = (r.stderr or r.stdout)[-300:]
        print(name, "ref norm", float(np.linalg.norm(ref)), "ort vs torch", entry["ort_cpu_vs_torch"],
              "kiln cpu vs torch", entry["kiln_cpu_vs_torch"], flush=True)
        for mode in ("fp32", "tf32", "fp16"):
            got, err = kiln_run(args.kiln, onnx_path, inputs, mode, work)
            k = {"error": err}
            if got is not None and mode == "fp32":
                print(name, "kiln cuda norm", float(np.linalg.norm(got)), "first", got.ravel()[:4],
                      "ref first", ref.ravel()[:4], flush=True)
            if got is not None:
                rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
                k.update(rel_error=rel, limit=LIMITS[mode], ok=rel <= LIMITS[mode])
            ms, terr = kiln_time(args.kiln, onnx_path, inputs, mode, work)
            k.update(median_ms=ms)
            if terr:
                k["time_error"] = terr
            entry["kiln"][mode] = k
            entry["torch_ms"][mode] = torch_time(model, inputs, mode)
        results["models"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
    json.dump(results, open(os.path.join(args.out, "results.json"), "w"), indent=1)
    print(f"\n{'model':14} {'mode':5} {'rel error':>10} {'limit':>7} {'ok':>3} {'kiln ms':>9} {'torch ms':>9}")
    for name, e in results["models"].items():
        for mode, k in e["kiln"].items():
            rel = k.get("rel_error")
            print(f"{name:14} {mode:5} {rel if rel is None else f'{rel:10.2e}':>10} {LIMITS[mode]:7.0e} "
                  f"{'yes' if k.get('ok') else 'NO':>3} {k.get('median_ms') or float('nan'):9.3f} "
                  f"{e['torch_ms'][mode]:9.3f}")
            if k.get("error"):
                print(f"   kiln error: {k['error'][:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
