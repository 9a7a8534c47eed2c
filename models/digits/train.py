#!/usr/bin/env python3
"""Train kiln's bundled default model: a small CNN on scikit-learn's 8x8 digits.

Architecture (input: pixel values 0..16 divided by 16, [batch,1,8,8] float32):
    Conv3x3 pad1 (16) -> Relu -> MaxPool2x2 -> Conv3x3 pad1 (32) -> Relu -> MaxPool2x2
    -> Flatten (128) -> Gemm (64) -> Relu -> Gemm (10) -> Softmax

Pure numpy training (forward + backward written out by hand), export with
onnx.helper (opset 17, IR version 8), verification with onnxruntime.

    python3 models/digits/train.py        # writes models/digits/digits.onnx and samples/

Deterministic: fixed data split, fixed seed, single-threaded BLAS (bit-identical
outputs on re-runs with the same numpy/BLAS build). Takes ~10 s on one CPU core.
Dependencies: pip install scikit-learn numpy onnx onnxruntime
"""
import os

# Pin BLAS to one thread before numpy loads so results do not depend on the host.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import collections
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")
MODEL_PATH = os.path.join(HERE, "digits.onnx")

SEED = 0          # weight init + minibatch order
SPLIT_STATE = 42  # train/test split
EPOCHS = 40
BATCH = 32
LR = 3e-3         # Adam, cosine-decayed to 0 over EPOCHS
C1, C2, HID = 16, 32, 64  # conv1 channels, conv2 channels, hidden fully-connected width


# ----------------------------------------------------------------------------- data
def load_data():
    d = load_digits()
    x = (d.images.astype(np.float64) / 16.0).reshape(-1, 1, 8, 8)  # pixels 0..16 -> [0,1]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=360, stratify=y, random_state=SPLIT_STATE)


# ----------------------------------------------------------------------------- layers
def im2col3x3(x):
    """x [N,C,H,W] -> cols [N, C*9, H*W] for a 3x3 kernel, stride 1, pad 1.
    Row order (c, kh, kw) matches weight.reshape(O, C*9)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, kh:kh + h, kw:kw + w] for kh in range(3) for kw in range(3)], axis=2)
    return cols.reshape(n, c * 9, h * w)


def col2im3x3(dcols, shape):
    n, c, h, w = shape
    dcols = dcols.reshape(n, c, 9, h, w)
    dxp = np.zeros((n, c, h + 2, w + 2), dtype=dcols.dtype)
    for k in range(9):
        kh, kw = divmod(k, 3)
        dxp[:, :, kh:kh + h, kw:kw + w] += dcols[:, :, k]
    return dxp[:, :, 1:-1, 1:-1]


def conv_fwd(x, w, b):
    n, c, h, wd = x.shape
    o = w.shape[0]
    cols = im2col3x3(x)
    y = np.matmul(w.reshape(o, -1), cols) + b[None, :, None]
    return y.reshape(n, o, h, wd), cols


def conv_bwd(dy, cols, x_shape, w):
    n, o, h, wd = dy.shape
    dy2 = dy.reshape(n, o, h * wd)
    dw = np.einsum("nop,nkp->ok", dy2, cols).reshape(w.shape)
    db = dy2.sum(axis=(0, 2))
    dcols = np.matmul(w.reshape(o, -1).T, dy2)
    return col2im3x3(dcols, x_shape), dw, db


def pool_fwd(x):
    """2x2 max pool, stride 2. Returns output and argmax (one winner per window)."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(axis=-1)
    return np.take_along_axis(win, idx[..., None], axis=-1)[..., 0], idx


def pool_bwd(dy, idx, x_shape):
    n, c, h, w = x_shape
    dwin = np.zeros((n, c, h // 2, w // 2, 4), dtype=dy.dtype)
    np.put_along_axis(dwin, idx[..., None], dy[..., None], axis=-1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- model
def init_params(rng):
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    return {
        "conv1.weight": he((C1, 1, 3, 3), 9),        "conv1.bias": np.zeros(C1),
        "conv2.weight": he((C2, C1, 3, 3), 9 * C1),  "conv2.bias": np.zeros(C2),
        "fc1.weight":   he((HID, 4 * C2), 4 * C2),   "fc1.bias":   np.zeros(HID),
        "fc2.weight":   he((10, HID), HID) * 0.5,    "fc2.bias":   np.zeros(10),
    }


def forward(p, x, keep=False):
    """Mirror of the exported ONNX graph. Returns probabilities (and a cache for backprop)."""
    z1, cols1 = conv_fwd(x, p["conv1.weight"], p["conv1.bias"])      # [N,C1,8,8]
    a1 = np.maximum(z1, 0)
    q1, i1 = pool_fwd(a1)                                             # [N,C1,4,4]
    z2, cols2 = conv_fwd(q1, p["conv2.weight"], p["conv2.bias"])     # [N,C2,4,4]
    a2 = np.maximum(z2, 0)
    q2, i2 = pool_fwd(a2)                                             # [N,C2,2,2]
    f = q2.reshape(q2.shape[0], -1)                                   # [N,4*C2]
    h = f @ p["fc1.weight"].T + p["fc1.bias"]                         # [N,HID]
    ha = np.maximum(h, 0)
    logits = ha @ p["fc2.weight"].T + p["fc2.bias"]                   # [N,10]
    prob = softmax(logits)
    if not keep:
        return prob
    return prob, (x, z1, cols1, a1, i1, q1, z2, cols2, a2, i2, q2, f, h, ha)


def backward(p, prob, y, cache):
    x, z1, cols1, a1, i1, q1, z2, cols2, a2, i2, q2, f, h, ha = cache
    n = x.shape[0]
    g = {}
    dlog = prob.copy()
    dlog[np.arange(n), y] -= 1.0
    dlog /= n                                                         # mean cross-entropy
    g["fc2.weight"] = dlog.T @ ha
    g["fc2.bias"] = dlog.sum(0)
    dh = (dlog @ p["fc2.weight"]) * (h > 0)
    g["fc1.weight"] = dh.T @ f
    g["fc1.bias"] = dh.sum(0)
    dq2 = (dh @ p["fc1.weight"]).reshape(q2.shape)
    dz2 = pool_bwd(dq2, i2, a2.shape) * (z2 > 0)
    dq1, g["conv2.weight"], g["conv2.bias"] = conv_bwd(dz2, cols2, q1.shape, p["conv2.weight"])
    dz1 = pool_bwd(dq1, i1, a1.shape) * (z1 > 0)
    _, g["conv1.weight"], g["conv1.bias"] = conv_bwd(dz1, cols1, x.shape, p["conv1.weight"])
    return g


def grad_check(p, rng):
    """Finite-difference check of the hand-written backward pass on a few entries."""
    x = rng.random((4, 1, 8, 8))
    y = rng.integers(0, 10, 4)
    prob, cache = forward(p, x, keep=True)
    g = backward(p, prob, y, cache)
    loss = lambda: -np.log(forward(p, x)[np.arange(4), y]).mean()
    worst = 0.0
    for k in p:
        flat = p[k].reshape(-1)
        for j in rng.choice(flat.size, size=min(5, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + 1e-6; lp = loss()
            flat[j] = old - 1e-6; lm = loss()
            flat[j] = old
            num = (lp - lm) / 2e-6
            worst = max(worst, abs(num - g[k].reshape(-1)[j]) / max(1e-8, abs(num) + abs(g[k].reshape(-1)[j])))
    return worst


def train(xtr, ytr, rng):
    p = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    n = xtr.shape[0]
    for epoch in range(EPOCHS):
        lr = LR * 0.5 * (1 + np.cos(np.pi * epoch / EPOCHS))         # cosine decay
        perm = rng.permutation(n)
        tot = 0.0
        for s in range(0, n, BATCH):
            bi = perm[s:s + BATCH]
            prob, cache = forward(p, xtr[bi], keep=True)
            tot += -np.log(prob[np.arange(len(bi)), ytr[bi]] + 1e-12).sum()
            g = backward(p, prob, ytr[bi], cache)
            t += 1
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                p[k] -= lr * mh / (np.sqrt(vh) + eps)
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            acc = (forward(p, xtr).argmax(1) == ytr).mean()
            print(f"epoch {epoch + 1:3d}  lr {lr:.5f}  loss {tot / n:.4f}  train acc {acc:.4f}")
    return p


# ----------------------------------------------------------------------------- export
def export(p32, path):
    init = [numpy_helper.from_array(v, name=k) for k, v in p32.items()]
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1_out"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("MaxPool", ["relu1_out"], ["pool1_out"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]),
        helper.make_node("Conv", ["pool1_out", "conv2.weight", "conv2.bias"], ["conv2_out"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv2_out"], ["relu2_out"], name="relu2"),
        helper.make_node("MaxPool", ["relu2_out"], ["pool2_out"], name="pool2",
                         kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]),
        helper.make_node("Flatten", ["pool2_out"], ["flatten_out"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flatten_out", "fc1.weight", "fc1.bias"], ["fc1_out"], name="fc1",
                         alpha=1.0, beta=1.0, transA=0, transB=1),
        helper.make_node("Relu", ["fc1_out"], ["relu3_out"], name="relu3"),
        helper.make_node("Gemm", ["relu3_out", "fc2.weight", "fc2.bias"], ["logits"], name="fc2",
                         alpha=1.0, beta=1.0, transA=0, transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "kiln_digits_cnn",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=init,
    )
    graph.doc_string = ("8x8 handwritten digit classifier (scikit-learn load_digits). "
                        "Input: pixel values 0..16 divided by 16.0, shape [batch,1,8,8] float32.")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="kiln-digits-train", producer_version="1.0")
    model.ir_version = 8
    model.model_version = 1
    model.doc_string = "kiln bundled default model: small CNN for 8x8 digits"
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return model


# ----------------------------------------------------------------------------- main
def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr, xte, ytr, yte = load_data()
    print(f"data: train {xtr.shape[0]}, test {xte.shape[0]}")

    gc = grad_check(init_params(np.random.default_rng(123)), np.random.default_rng(7))
    print(f"gradient check: max relative error {gc:.2e}")
    assert gc < 1e-4, "backward pass does not match finite differences"

    p = train(xtr, ytr, rng)
    t_train = time.time() - t0

    # float32 weights are what ships; all further numbers use them
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    xtr32, xte32 = xtr.astype(np.float32), xte.astype(np.float32)
    np_tr = forward(p32, xtr32)
    np_te = forward(p32, xte32)
    train_acc = (np_tr.argmax(1) == ytr).mean()
    test_acc = (np_te.argmax(1) == yte).mean()

    model = export(p32, MODEL_PATH)

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(MODEL_PATH, so, providers=["CPUExecutionProvider"])
    ort_te = sess.run(["probabilities"], {"image": xte32})[0]
    diff = float(np.abs(ort_te - np_te).max())
    ort_acc = (ort_te.argmax(1) == yte).mean()
    assert diff < 1e-5, f"ORT vs numpy max abs diff {diff}"
    assert (ort_te.argmax(1) == np_te.argmax(1)).all()

    # ---- samples (all from the TEST split)
    os.makedirs(SAMPLES, exist_ok=True)
    for f in os.listdir(SAMPLES):
        if f.endswith(".npy"):
            os.remove(os.path.join(SAMPLES, f))
    sample_files = []
    for label in range(10):
        k = int(np.flatnonzero(yte == label)[0])          # k = index within the test split
        fn = f"digit_{label}_{k}.npy"
        np.save(os.path.join(SAMPLES, fn), xte32[k:k + 1].copy())
        sample_files.append((fn, label, k))
    batch = np.ascontiguousarray(xte32[:64])
    batch_labels = yte[:64].astype(np.int64)
    np.save(os.path.join(SAMPLES, "batch.npy"), batch)
    np.save(os.path.join(SAMPLES, "batch_labels.npy"), batch_labels)
    ort_batch = sess.run(["probabilities"], {"image": batch})[0].astype(np.float32)
    np.save(os.path.join(SAMPLES, "expected_probabilities.npy"), ort_batch)
    batch_acc = (ort_batch.argmax(1) == batch_labels).mean()

    # single-image samples through ORT (batch = 1 exercises the symbolic dim)
    sample_ok = 0
    for fn, label, _ in sample_files:
        x1 = np.load(os.path.join(SAMPLES, fn))
        sample_ok += int(sess.run(["probabilities"], {"image": x1})[0].argmax() == label)

    # ---- summary
    hist = collections.Counter(n.op_type for n in model.graph.node)
    nparams = sum(v.size for v in p32.values())
    total = os.path.getsize(MODEL_PATH) + sum(
        os.path.getsize(os.path.join(SAMPLES, f)) for f in os.listdir(SAMPLES))
    print()
    print("=== summary ===")
    print(f"train time              : {t_train:.1f} s")
    print(f"train accuracy (numpy)  : {train_acc:.4f}  ({int(round(train_acc * len(ytr)))}/{len(ytr)})")
    print(f"test accuracy (numpy)   : {test_acc:.4f}  ({int(round(test_acc * len(yte)))}/{len(yte)})")
    print(f"test accuracy (ORT)     : {ort_acc:.4f}  ({int(round(ort_acc * len(yte)))}/{len(yte)})")
    print(f"batch.npy accuracy (ORT): {batch_acc:.4f}  ({int(round(batch_acc * 64))}/64)")
    print(f"single samples (ORT)    : {sample_ok}/10 correct")
    print(f"ORT vs numpy max |diff| : {diff:.3e}")
    print(f"parameters              : {nparams}")
    print(f"digits.onnx size        : {os.path.getsize(MODEL_PATH)} bytes")
    print(f"model + samples size    : {total} bytes")
    print(f"op histogram            : {dict(hist)}")


if __name__ == "__main__":
    main()
