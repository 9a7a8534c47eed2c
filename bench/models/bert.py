#!/usr/bin/env python3
"""BERT-base (sequence 128) as ONNX, in the layout PyTorch's exporter writes, with random weights.

The graph is what torch.onnx.export (TorchScript exporter, opset 17, eval mode,
do_constant_folding=True, dynamic_axes on the batch only) writes for transformers'
BertModel with eager attention and no pooler: hidden 768, 12 layers, 12 heads of 64,
intermediate 3072, vocabulary 30522, 512 positions, 2 token types.

  inputs   input_ids, attention_mask, token_type_ids: int64 [batch_size, 128]
  output   last_hidden_state: float32 [batch_size, 128, 768]

Patterns, as the exporter writes them:
  - embeddings: Gather(word) + Gather(token type) -> Add -> + Gather(position, constant
    ids) -> Add -> LayerNormalization (opset 17 has the op; epsilon 1e-12); Dropout is gone.
  - the extended mask: Unsqueeze(1) -> Unsqueeze(2) -> Cast(float) -> Sub(1, .) -> Mul(-10000)
    (transformers before 4.2x used -10000; later ones finfo(float32).min, --mask-min picks
    that. -10000 keeps the model finite on inputs whose mask is not 0/1.)
  - nn.Linear on a 3-D input: MatMul with the transposed weight (a folded initializer
    "onnx::MatMul_N") then Add(bias, .).
  - transpose_for_scores: x.view(x.size()[:-1] + (12, 64)): with a dynamic batch the
    exporter reads the batch with Shape -> Gather(0) -> Unsqueeze and Concats it with the
    constant dims (128 is static and folded), then Reshape; with a fixed batch the whole
    shape is a constant. Then Transpose(0,2,1,3); for the key the following
    .transpose(-1,-2) is fused into one Transpose(0,2,3,1).
  - scores: MatMul -> Div(8 = sqrt(64)) -> Add(mask) -> Softmax(-1) -> MatMul(V) ->
    Transpose(0,2,1,3) -> Reshape([batch, 128, 768]) -> dense MatMul + Add -> residual Add ->
    LayerNormalization.
  - GELU (exact): Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5).
Scalars are Constant nodes, as the exporter leaves them. Node names follow the module path
("/encoder/layer.0/attention/self/query/MatMul"). Weights: normal(0, 0.02) as BERT
initialises them, small random biases, LayerNorm scale near 1.

usage: bert.py OUT.onnx [--batch N|dynamic] [--seed S] [--layers L] [--mask-min] [--no-verify]
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, HEAD, INTER, SEQ, VOCAB, POS, TYPES = 768, 12, 64, 3072, 128, 30522, 512, 2


class Builder:
    def __init__(self, seed, batch):
        self.rng = np.random.default_rng(seed)
        self.batch = batch
        self.nodes, self.inits = [], []
        self.counter = 1500  # the exporter numbers folded weights after the graph's values
        self.seen = {}

    def node(self, op, path, inputs, **attrs):
        """Appends a node named as the exporter does: scope path, op type, _k for the k-th repeat."""
        k = self.seen.get((path, op), 0)
        self.seen[(path, op)] = k + 1
        name = f"{path}/{op}" + (f"_{k}" if k else "")
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def constant(self, path, value, dtype=np.float32):
        return self.node("Constant", path, [], value=numpy_helper.from_array(np.array(value, dtype=dtype), ""))

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def normal(self, shape, std=0.02):
        return (self.rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)

    def linear(self, path, module, x, cin, cout):
        """nn.Linear on [batch, seq, cin]: MatMul(x, W^T) then Add(bias, .)."""
        w = self.init(f"onnx::MatMul_{self.counter}", self.normal((cin, cout)))
        self.counter += 1
        b = self.init(f"{module}.bias", self.normal(cout))
        y = self.node("MatMul", path, [x, w])
        return self.node("Add", path, [b, y])

    def layer_norm(self, path, module, x):
        g = self.init(f"{module}.weight", (1.0 + self.normal(HIDDEN, 0.05)).astype(np.float32))
        b = self.init(f"{module}.bias", self.normal(HIDDEN))
        return self.node("LayerNormalization", path, [x, g, b], axis=-1, epsilon=1e-12)

    def reshape(self, path, x, tail):
        """x.view(batch, *tail): dynamic batch via Shape -> Gather -> Unsqueeze -> Concat."""
        if self.batch == "dynamic":
            shape = self.node("Shape", path, [x])
            idx = self.constant(path, 0, np.int64)
            dim0 = self.node("Gather", path, [shape, idx], axis=0)
            axes = self.constant(path, [0], np.int64)
            dim0 = self.node("Unsqueeze", path, [dim0, axes])
            parts = [dim0]
            for j, d in enumerate(tail):
                parts.append(self.constant(path, [d], np.int64))
            target = self.node("Concat", path, parts, axis=0)
        else:
            target = self.constant(path, [int(self.batch), *tail], np.int64)
        return self.node("Reshape", path, [x, target], allowzero=0)

    def attention(self, l, x, mask):
        p = f"/encoder/layer.{l}/attention/self"
        m = f"encoder.layer.{l}.attention.self"
        q = self.linear(f"{p}/query", f"{m}.query", x, HIDDEN, HIDDEN)
        k = self.linear(f"{p}/key", f"{m}.key", x, HIDDEN, HIDDEN)
        v = self.linear(f"{p}/value", f"{m}.value", x, HIDDEN, HIDDEN)
        q = self.node("Transpose", p, [self.reshape(p, q, [SEQ, HEADS, HEAD])], perm=[0, 2, 1, 3])
        k = self.node("Transpose", p, [self.reshape(p, k, [SEQ, HEADS, HEAD])], perm=[0, 2, 3, 1])
        v = self.node("Transpose", p, [self.reshape(p, v, [SEQ, HEADS, HEAD])], perm=[0, 2, 1, 3])
        s = self.node("MatMul", p, [q, k])
        s = self.node("Div", p, [s, self.constant(p, np.sqrt(HEAD))])
        s = self.node("Add", p, [s, mask])
        s = self.node("Softmax", p, [s], axis=-1)
        c = self.node("MatMul", p, [s, v])
        c = self.node("Transpose", p, [c], perm=[0, 2, 1, 3])
        c = self.reshape(p, c, [SEQ, HIDDEN])
        po, mo = f"/encoder/layer.{l}/attention/output", f"encoder.layer.{l}.attention.output"
        y = self.linear(f"{po}/dense", f"{mo}.dense", c, HIDDEN, HIDDEN)
        y = self.node("Add", po, [y, x])
        return self.layer_norm(f"{po}/LayerNorm", f"{mo}.LayerNorm", y)

    def gelu(self, path, x):
        y = self.node("Div", path, [x, self.constant(path, np.sqrt(2.0))])
        y = self.node("Erf", path, [y])
        y = self.node("Add", path, [y, self.constant(path, 1.0)])
        y = self.node("Mul", path, [x, y])
        return self.node("Mul", path, [y, self.constant(path, 0.5)])

    def layer(self, l, x, mask):
        a = self.attention(l, x, mask)
        pi, mi = f"/encoder/layer.{l}/intermediate", f"encoder.layer.{l}.intermediate"
        h = self.linear(f"{pi}/dense", f"{mi}.dense", a, HIDDEN, INTER)
        h = self.gelu(f"{pi}/intermediate_act_fn", h)
        po, mo = f"/encoder/layer.{l}/output", f"encoder.layer.{l}.output"
        y = self.linear(f"{po}/dense", f"{mo}.dense", h, INTER, HIDDEN)
        y = self.node("Add", po, [y, a])
        return self.layer_norm(f"{po}/LayerNorm", f"{mo}.LayerNorm", y)


def build(batch, seed, layers=12, mask_min=False):
    b = Builder(seed, batch)
    e = "/embeddings"
    word = b.init("embeddings.word_embeddings.weight", b.normal((VOCAB, HIDDEN)))
    pos = b.init("embeddings.position_embeddings.weight", b.normal((POS, HIDDEN)))
    typ = b.init("embeddings.token_type_embeddings.weight", b.normal((TYPES, HIDDEN)))
    # the position_ids buffer sliced to the (static) sequence length, folded to a constant
    pos_ids = b.init("onnx::Gather_position_ids", np.arange(SEQ, dtype=np.int64)[None, :])
    x = b.node("Gather", f"{e}/word_embeddings", [word, "input_ids"], axis=0)
    t = b.node("Gather", f"{e}/token_type_embeddings", [typ, "token_type_ids"], axis=0)
    x = b.node("Add", e, [x, t])
    p = b.node("Gather", f"{e}/position_embeddings", [pos, pos_ids], axis=0)
    x = b.node("Add", e, [x, p])
    x = b.layer_norm(f"{e}/LayerNorm", "embeddings.LayerNorm", x)

    # extended attention mask: (1 - mask[:, None, None, :].float()) * fill
    m = b.node("Unsqueeze", "", ["attention_mask", b.constant("", [1], np.int64)])
    m = b.node("Unsqueeze", "", [m, b.constant("", [2], np.int64)])
    m = b.node("Cast", "", [m], to=TensorProto.FLOAT)
    m = b.node("Sub", "", [b.constant("", 1.0), m])
    fill = np.finfo(np.float32).min if mask_min else -10000.0
    mask = b.node("Mul", "", [m, b.constant("", fill)])

    for l in range(layers):
        x = b.layer(l, x, mask)
    # output_names=["last_hidden_state"] renames the last LayerNormalization's output
    b.nodes[-1].output[0] = "last_hidden_state"

    dim = "batch_size" if batch == "dynamic" else int(batch)
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, [dim, SEQ])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(
        b.nodes, "main_graph", inputs,
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [dim, SEQ, HIDDEN])],
        initializer=b.inits)
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.11.0",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def sample_inputs(n, seed=1):
    """Token ids, a mask with padding at the end of the second half of the rows, token types 0|1."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (n, SEQ), dtype=np.int64)
    mask = np.ones((n, SEQ), np.int64)
    mask[n // 2:, 100:] = 0
    types = np.zeros((n, SEQ), np.int64)
    types[:, SEQ // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def verify(path, batch):
    """Runs the saved model once with ONNX Runtime on sample inputs."""
    import onnxruntime as ort
    n = 2 if batch == "dynamic" else int(batch)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, sample_inputs(n))
    assert y.shape == (n, SEQ, HIDDEN) and np.isfinite(y).all(), (y.shape, "non-finite output")
    print(f"onnxruntime {ort.__version__}: last_hidden_state {list(y.shape)}, std {float(y.std()):.4g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--batch", default="dynamic", help="N or 'dynamic' (dim 'batch_size')")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=12, help="encoder layers (12 for BERT-base)")
    ap.add_argument("--mask-min", action="store_true",
                    help="mask fill finfo(float32).min (newer transformers) instead of -10000")
    ap.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime check")
    args = ap.parse_args()
    model = build(args.batch, args.seed, args.layers, args.mask_min)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, args.out)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT)
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, {params} parameters")
    if not args.no_verify:
        verify(args.out, args.batch)


if __name__ == "__main__":
    main()
