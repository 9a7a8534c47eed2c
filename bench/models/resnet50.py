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
import numpy as np
from onnx import helper, numpy_helper

import image_model


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

    def residual(self, path, y, identity, relu):
        """ReLU(y + identity): the end of a residual block (relu: the ReLU's module name)."""
        add = f"{path}/Add_output_0"
        self.nodes.append(helper.make_node("Add", [y, identity], [add], name=f"{path}/Add"))
        return self.relu(f"{path}/{relu}", add)

    def stem(self):
        """conv1 7x7/2 + ReLU + 3x3/2 max pool: 64 channels at 56x56."""
        x = self.relu("/relu", self.conv("/conv1", "input", 3, 64, 7, 2, 3))
        pool = "/maxpool/MaxPool_output_0"
        self.nodes.append(helper.make_node("MaxPool", [x], [pool], name="/maxpool/MaxPool",
                                           ceil_mode=0, kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                           strides=[2, 2]))
        return pool

    def head(self, x, channels, batch):
        """Global average pool, Flatten, fc (nn.Linear's default init) to 1000: the model."""
        gap = "/avgpool/GlobalAveragePool_output_0"
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [gap],
                                           name="/avgpool/GlobalAveragePool"))
        flat = "/Flatten_output_0"
        self.nodes.append(helper.make_node("Flatten", [gap], [flat], name="/Flatten", axis=1))
        bound = 1.0 / np.sqrt(float(channels))
        fc_w = numpy_helper.from_array(
            self.rng.uniform(-bound, bound, (1000, channels)).astype(np.float32), "fc.weight")
        fc_b = numpy_helper.from_array(self.rng.uniform(-bound, bound, 1000).astype(np.float32),
                                       "fc.bias")
        self.inits += [fc_w, fc_b]
        self.nodes.append(helper.make_node("Gemm", [flat, "fc.weight", "fc.bias"], ["output"],
                                           name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))
        return image_model.finish(self.nodes, self.inits, batch)

    def network(self, stages, block, batch):
        """stem, then for each (blocks, width, stride) of stages that many blocks (the first
        with the stride): block(path, x, cin, width, stride, first) -> (y, channels); head."""
        x, cin = self.stem(), 64
        for li, (blocks, width, stride) in enumerate(stages):
            for bi in range(blocks):
                path = f"/layer{li + 1}/layer{li + 1}.{bi}"
                x, cin = block(path, x, cin, width, stride if bi == 0 else 1, bi == 0)
        return self.head(x, cin, batch)

    def bottleneck(self, path, x, cin, width, stride, downsample):
        out_ch = width * 4
        y = self.relu(f"{path}/relu", self.conv(f"{path}/conv1", x, cin, width, 1, 1, 0))
        y = self.relu(f"{path}/relu_1", self.conv(f"{path}/conv2", y, width, width, 3, stride, 1))
        y = self.conv(f"{path}/conv3", y, width, out_ch, 1, 1, 0)
        identity = x
        if downsample:
            identity = self.conv(f"{path}/downsample/downsample.0", x, cin, out_ch, 1, stride, 0)
        return self.residual(path, y, identity, "relu_2"), out_ch


def build(batch, seed):
    b = Builder(seed)
    # every stage's first bottleneck has a downsample branch (stride or channels change)
    return b.network([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)], b.bottleneck, batch)


if __name__ == "__main__":
    image_model.main(build, __doc__.splitlines()[0])
