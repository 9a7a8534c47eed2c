#!/usr/bin/env python3
"""ResNet-50 v1.5 as ONNX, in the layout PyTorch's exporter writes, with random weights.

torch.onnx.export of torchvision's resnet50 in eval mode folds each BatchNorm into the
preceding Conv (so every Conv has a bias), names nodes by module path
("/layer1/layer1.0/conv1/Conv") and ends in GlobalAveragePool -> Flatten -> Gemm. This
script writes the same graph with the onnx package alone, so no torch download is needed,
then checks it with onnx.checker and runs it once with ONNX Runtime.
v1.5 puts the stride of each downsampling bottleneck on its 3x3 conv.
Weights: He-normal convs (a fresh torchvision model with its BatchNorms folded; with no
trained BN scales the activations grow along the residual path, to logits of order 1e3),
and fc as nn.Linear's default uniform(+-1/sqrt(2048)), bias included.

usage: resnet50.py OUT.onnx [--batch N|dynamic] [--seed S] [--no-verify]
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.counter = 0

    def weight(self, shape, fan_in):
        name = f"onnx::Conv_{self.counter}"
        self.counter += 1
        w = (self.rng.standard_normal(shape, dtype=np.float32) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(w, name))
        return name

    def bias(self, n):
        name = f"onnx::Conv_{self.counter}"
        self.counter += 1
        self.inits.append(numpy_helper.from_array(
            (self.rng.standard_normal(n, dtype=np.float32) * 0.01).astype(np.float32), name))
        return name

    def conv(self, path, x, cin, cout, k, stride, pad):
        w = self.weight((cout, cin, k, k), cin * k * k)
        b = self.bias(cout)
        out = f"{path}/Conv_output_0"
        self.nodes.append(helper.make_node(
            "Conv", [x, w, b], [out], name=f"{path}/Conv", dilations=[1, 1], group=1,
            kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride]))
        return out

    def relu(self, path, x):
        out = f"{path}/Relu_output_0"
        self.nodes.append(helper.make_node("Relu", [x], [out], name=f"{path}/Relu"))
        return out

    def bottleneck(self, path, x, cin, width, stride, downsample):
        out_ch = width * 4
        y = self.relu(f"{path}/relu", self.conv(f"{path}/conv1", x, cin, width, 1, 1, 0))
        y = self.relu(f"{path}/relu_1", self.conv(f"{path}/conv2", y, width, width, 3, stride, 1))
        y = self.conv(f"{path}/conv3", y, width, out_ch, 1, 1, 0)
        identity = x
        if downsample:
            identity = self.conv(f"{path}/downsample/downsample.0", x, cin, out_ch, 1, stride, 0)
        add = f"{path}/Add_output_0"
        self.nodes.append(helper.make_node("Add", [y, identity], [add], name=f"{path}/Add"))
        return self.relu(f"{path}/relu_2", add), out_ch


def build(batch, seed):
    b = Builder(seed)
    x = b.relu("/relu", b.conv("/conv1", "input", 3, 64, 7, 2, 3))
    pool = "/maxpool/MaxPool_output_0"
    b.nodes.append(helper.make_node("MaxPool", [x], [pool], name="/maxpool/MaxPool", ceil_mode=0,
                                    kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    x, cin = pool, 64
    for li, (blocks, width, stride) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]):
        for bi in range(blocks):
            path = f"/layer{li + 1}/layer{li + 1}.{bi}"
            x, cin = b.bottleneck(path, x, cin, width, stride if bi == 0 else 1, bi == 0)
    gap = "/avgpool/GlobalAveragePool_output_0"
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], [gap], name="/avgpool/GlobalAveragePool"))
    flat = "/Flatten_output_0"
    b.nodes.append(helper.make_node("Flatten", [gap], [flat], name="/Flatten", axis=1))
    bound = 1.0 / np.sqrt(2048.0)
    fc_w = numpy_helper.from_array(b.rng.uniform(-bound, bound, (1000, 2048)).astype(np.float32), "fc.weight")
    fc_b = numpy_helper.from_array(b.rng.uniform(-bound, bound, 1000).astype(np.float32), "fc.bias")
    b.inits += [fc_w, fc_b]
    b.nodes.append(helper.make_node("Gemm", [flat, "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm",
                                    alpha=1.0, beta=1.0, transB=1))
    dim = "batch_size" if batch == "dynamic" else int(batch)
    graph = helper.make_graph(
        b.nodes, "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [dim, 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [dim, 1000])],
        initializer=b.inits)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    main()
