#!/usr/bin/env python3
"""ResNet-18 as ONNX, in the layout PyTorch's exporter writes, with random weights.

torchvision's resnet18: basic blocks of two 3x3 convolutions, the second one's output
added to the block's input (through a 1x1 stride-2 convolution where the block
downsamples) before the ReLU -- the residual Add a 3x3 convolution carries, which
ResNet-50's bottlenecks give to a 1x1. BatchNorm folded into the Conv biases and node
names by module path, as resnet50.py (whose Builder this reuses) explains.

usage: resnet18.py OUT.onnx [--batch N|dynamic] [--seed S] [--no-verify]
"""
import image_model
from resnet50 import Builder


def basic_block(b, path, x, cin, width, stride, first):
    y = b.relu(f"{path}/relu", b.conv(f"{path}/conv1", x, cin, width, 3, stride, 1))
    y = b.conv(f"{path}/conv2", y, width, width, 3, 1, 1)
    identity = x
    if first and (stride != 1 or cin != width):  # the downsample branch
        identity = b.conv(f"{path}/downsample/downsample.0", x, cin, width, 1, stride, 0)
    return b.residual(path, y, identity, "relu_1"), width


def build(batch, seed):
    b = Builder(seed)
    return b.network([(2, 64, 1), (2, 128, 2), (2, 256, 2), (2, 512, 2)],
                     lambda *a: basic_block(b, *a), batch)


if __name__ == "__main__":
    image_model.main(build, __doc__.splitlines()[0])
