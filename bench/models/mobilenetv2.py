#!/usr/bin/env python3
"""MobileNetV2 as ONNX, in the layout PyTorch's exporter writes, with random weights.

torch.onnx.export (TorchScript exporter, opset 17, eval mode, do_constant_folding=True) of
torchvision's mobilenet_v2 folds each BatchNorm into the preceding Conv (so every Conv has
a bias, named "onnx::Conv_N"), writes ReLU6 as Clip with its min and max as Constant inputs
(opset 11 and later), depthwise convs with group=C, an Add for each residual block, and
ends in GlobalAveragePool -> Flatten -> Gemm (Dropout vanishes in eval mode). Node names
follow the module path: "/features/features.1/conv/conv.0/conv.0.0/Conv". This script
writes the same graph with the onnx package alone, so no torch download is needed, then
checks it with onnx.checker and runs it once with ONNX Runtime.

usage: mobilenetv2.py OUT.onnx [--batch N|dynamic] [--seed S] [--no-verify]
"""
import numpy as np
from onnx import helper, numpy_helper

import image_model

# torchvision's inverted residual settings: expand ratio t, channels c, repeats n, stride s
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.counter = 400  # the exporter numbers folded weights after the graph's values

    def _init(self, arr, prefix):
        name = f"{prefix}_{self.counter}"
        self.counter += 1
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def conv(self, path, x, cin, cout, k, stride, group=1):
        """Conv with the BatchNorm folded in: weight and bias. He-initialised (fan in per group)."""
        fan_in = cin // group * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k), dtype=np.float32) * np.sqrt(2.0 / fan_in)
        b = self.rng.standard_normal(cout, dtype=np.float32) * 0.01
        wn, bn = self._init(w, "onnx::Conv"), self._init(b, "onnx::Conv")
        out = f"{path}/Conv_output_0"
        pad = (k - 1) // 2
        self.nodes.append(helper.make_node(
            "Conv", [x, wn, bn], [out], name=f"{path}/Conv", dilations=[1, 1], group=group,
            kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride]))
        return out

    def constant(self, path, suffix, value):
        out = f"{path}/Constant{suffix}_output_0"
        self.nodes.append(helper.make_node(
            "Constant", [], [out], name=f"{path}/Constant{suffix}",
            value=numpy_helper.from_array(np.array(value, dtype=np.float32), "")))
        return out

    def relu6(self, path, x):
        lo = self.constant(path, "", 0.0)
        hi = self.constant(path, "_1", 6.0)
        out = f"{path}/Clip_output_0"
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out], name=f"{path}/Clip"))
        return out

    def conv_bn_relu6(self, path, name, x, cin, cout, k, stride, group=1):
        """torchvision's Conv2dNormActivation: Sequential(Conv2d, BatchNorm2d, ReLU6)."""
        y = self.conv(f"{path}/{name}.0", x, cin, cout, k, stride, group)
        return self.relu6(f"{path}/{name}.2", y)

    def inverted_residual(self, path, x, cin, cout, stride, t):
        hidden = cin * t
        y, i = x, 0
        if t != 1:
            y = self.conv_bn_relu6(f"{path}/conv/conv.{i}", f"conv.{i}", y, cin, hidden, 1, 1)
            i += 1
        y = self.conv_bn_relu6(f"{path}/conv/conv.{i}", f"conv.{i}", y, hidden, hidden, 3, stride, hidden)
        i += 1
        # the linear bottleneck: Conv2d then BatchNorm2d (folded), no activation
        y = self.conv(f"{path}/conv/conv.{i}", y, hidden, cout, 1, 1)
        if stride == 1 and cin == cout:
            out = f"{path}/Add_output_0"
            self.nodes.append(helper.make_node("Add", [x, y], [out], name=f"{path}/Add"))
            return out
        return y


def build(batch, seed):
    b = Builder(seed)
    x = b.conv_bn_relu6("/features/features.0", "features.0", "input", 3, 32, 3, 2)
    cin, idx = 32, 1
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = b.inverted_residual(f"/features/features.{idx}", x, cin, c, s if i == 0 else 1, t)
            cin, idx = c, idx + 1
    x = b.conv_bn_relu6(f"/features/features.{idx}", f"features.{idx}", x, cin, 1280, 1, 1)
    gap = "/GlobalAveragePool_output_0"
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], [gap], name="/GlobalAveragePool"))
    flat = "/Flatten_output_0"
    b.nodes.append(helper.make_node("Flatten", [gap], [flat], name="/Flatten", axis=1))
    # torchvision: nn.init.normal_(linear.weight, 0, 0.01), zeros for the bias
    fc_w = numpy_helper.from_array(
        (b.rng.standard_normal((1000, 1280), dtype=np.float32) * 0.01).astype(np.float32),
        "classifier.1.weight")
    fc_b = numpy_helper.from_array(np.zeros(1000, np.float32), "classifier.1.bias")
    b.inits += [fc_w, fc_b]
    b.nodes.append(helper.make_node("Gemm", [flat, "classifier.1.weight", "classifier.1.bias"], ["output"],
                                    name="/classifier/classifier.1/Gemm", alpha=1.0, beta=1.0, transB=1))
    return image_model.finish(b.nodes, b.inits, batch)


if __name__ == "__main__":
    image_model.main(build, __doc__.splitlines()[0])
