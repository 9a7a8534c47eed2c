"""What the two image-classifier generators (resnet50.py, mobilenetv2.py) share: the model
around their nodes (input [N,3,224,224] -> logits [N,1000], opset 17, as PyTorch's exporter
writes it), the ONNX Runtime check, and the command line."""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper


def finish(nodes, inits, batch):
    """The model of nodes and initializers, batch N or 'dynamic' (dim 'batch_size')."""
    dim = "batch_size" if batch == "dynamic" else int(batch)
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [dim, 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [dim, 1000])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.11.0",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def verify(path, batch):
    """Runs the saved model once with ONNX Runtime on a random input."""
    import onnxruntime as ort
    n = 2 if batch == "dynamic" else int(batch)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((n, 3, 224, 224), dtype=np.float32)
    (y,) = sess.run(None, {"input": x})
    assert y.shape == (n, 1000) and np.isfinite(y).all(), (y.shape, "non-finite output")
    print(f"onnxruntime {ort.__version__}: output {list(y.shape)}, std {float(y.std()):.4g}")


def main(build, description):
    """The generator's command line: OUT.onnx [--batch N|dynamic] [--seed S] [--no-verify]."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("out")
    ap.add_argument("--batch", default="dynamic", help="N or 'dynamic' (dim 'batch_size')")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime check")
    args = ap.parse_args()
    model = build(args.batch, args.seed)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, args.out)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, {params} parameters")
    if not args.no_verify:
        verify(args.out, args.batch)
