#!/usr/bin/env python3
"""ResNet-18 as ONNX, in the layout PyTorch's exporter writes, with random weights.

torchvision's resnet18: basic blocks of two 3x3 convolutions, the second one's output
added to the block's input (through a 1x1 stride-2 convolution where the block
downsamples) before the ReLU -- the residual Add a 3x3 convolution carries, which
ResNet-50's bottlenecks give to a 1x1. BatchNorm folded into the Conv biases and node
names by module path, as resnet50.py (whose Builder this reuses) explains.

usage: resnet18.py OUT.onnx [--batch N|dynamic] [--seed S] [--no-verify]
"""
import numpy as np
from onnx import helper, numpy_helper

import image_model
from resnet50 import Builder


def basic_block(b, path, x, cin, width, stride, downsample):
    y = b.relu(f"{path}/relu", b.conv(f"{path}/conv1", x, cin, width, 3, stride, 1))
    y = b.conv(f"{path}/conv2", y, width, width, 3, 1, 1)
    identity = x
    if downsample:
        identity = b.conv(f"{path}/downsample/downsample.0", x, cin, width, 1, stride, 0)
    add = f"{path}/Add_output_0"
    b.nodes.append(helper.make_node("Add", [y, identity], [add], name=f"{path}/Add"))
    return b.relu(f"{path}/relu_1", add), width


def build(batch, seed):
    b = Builder(seed)
    x = b.relu("/relu", b.conv("/conv1", "input", 3, 64, 7, 2, 3))
    pool = "/maxpool/MaxPool_output_0"
    b.nodes.append(helper.make_node("MaxPool", [x], [pool], name="/maxpool/MaxPool", ceil_mode=0,
                                    kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    x, cin = pool, 64
    for li, (width, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
        for bi in range(2):
            path = f"/layer{li + 1}/layer{li + 1}.{bi}"
            first = bi == 0
            x, cin = basic_block(b, path, x, cin, width, stride if first else 1,
                                 first and (stride != 1 or cin != width))
    gap = "/avgpool/GlobalAveragePool_output_0"
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], [gap], name="/avgpool/GlobalAveragePool"))
    flat = "/Flatten_output_0"
    b.nodes.append(helper.make_node("Flatten", [gap], [flat], name="/Flatten", axis=1))
    bound = 1.0 / np.sqrt(512.0)
    fc_w = numpy_helper.from_array(b.rng.uniform(-bound, bound, (1000, 512)).astype(np.float32), "fc.weight")
    fc_b = numpy_helper.from_array(b.rng.uniform(-bound, bound, 1000).astype(np.float32), "fc.bias")
    b.inits += [fc_w, fc_b]
    b.nodes.append(helper.make_node("Gemm", [flat, "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm",
                                    alpha=1.0, beta=1.0, transB=1))
    return image_model.finish(b.nodes, b.inits, batch)


if __name__ == "__main__":
    image_model.main(build, __doc__.splitlines()[0])
