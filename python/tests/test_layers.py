"""The layer API: each add_* call builds a small network, run on the CPU and compared to
numpy (or, for Resize, to onnx's reference implementation)."""

import math

import numpy as np
import pytest

import kiln

rng = np.random.default_rng(1234)
A = kiln.ActivationType
E = kiln.ElementWiseOperation
U = kiln.UnaryOperation
R = kiln.ReduceOperation


def rand(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def run(build, feeds, logger=None, plan=True):
    """Builds a network with ``build(network) -> [output tensors]``, marks those outputs,
    builds (through a plan, or directly) and runs it on ``feeds``; the results in order."""
    logger = logger or kiln.Logger(kiln.Logger.ERROR)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    outputs = build(network)
    names = [t.name for t in outputs]
    for t in outputs:
        network.mark_output(t)
    config = builder.create_builder_config()
    if plan:
        engine = kiln.Runtime(logger).deserialize_engine(
            builder.build_serialized_network(network, config))
    else:
        engine = builder.build_engine(network, config)
    result = engine.create_execution_context().infer(feeds)
    return [result[n] for n in names]


# ---------------------------------------------------------------------------- references


def conv_ref(x, w, b, stride, pad_begin, pad_end, dilation, groups):
    n, c = x.shape[:2]
    o = w.shape[0]
    k = w.shape[2:]
    nsp = len(k)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pad_begin[i], pad_end[i]) for i in range(nsp)])
    out_sp = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1
              for i in range(nsp)]
    out = np.zeros((n, o) + tuple(out_sp), np.float64)
    cg, og = c // groups, o // groups
    for g in range(groups):
        for idx in np.ndindex(*k):
            sl = tuple(slice(idx[i] * dilation[i],
                             idx[i] * dilation[i] + stride[i] * (out_sp[i] - 1) + 1, stride[i])
                       for i in range(nsp))
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + sl]
            wk = w[(slice(g * og, (g + 1) * og), slice(None)) + idx]
            out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", patch, wk)
    if b is not None:
        out += b.reshape((1, o) + (1,) * nsp)
    return out


def deconv_ref(x, w, b, stride, pad_begin, pad_end, groups):
    n, c = x.shape[:2]
    og = w.shape[1]
    o = og * groups
    k = w.shape[2:]
    nsp = len(k)
    full_sp = [(x.shape[2 + i] - 1) * stride[i] + k[i] for i in range(nsp)]
    full = np.zeros((n, o) + tuple(full_sp), np.float64)
    cg = c // groups
    for g in range(groups):
        for idx in np.ndindex(*k):
            sl = tuple(slice(idx[i], idx[i] + stride[i] * (x.shape[2 + i] - 1) + 1, stride[i])
                       for i in range(nsp))
            contrib = np.einsum("nc...,co->no...", x[:, g * cg:(g + 1) * cg],
                                w[(slice(g * cg, (g + 1) * cg), slice(None)) + idx])
            full[(slice(None), slice(g * og, (g + 1) * og)) + sl] += contrib
    crop = tuple(slice(pad_begin[i], full_sp[i] - pad_end[i]) for i in range(nsp))
    out = full[(slice(None), slice(None)) + crop]
    if b is not None:
        out = out + b.reshape((1, o) + (1,) * nsp)
    return out


def pool_ref(x, kind, k, stride, pad_begin, pad_end):
    nsp = len(k)
    fill = -np.inf if kind == "max" else 0.0
    pads = [(0, 0), (0, 0)] + [(pad_begin[i], pad_end[i]) for i in range(nsp)]
    xp = np.pad(x.astype(np.float64), pads, constant_values=fill)
    ones = np.pad(np.ones(x.shape), pads, constant_values=0)
    out_sp = [(xp.shape[2 + i] - k[i]) // stride[i] + 1 for i in range(nsp)]
    acc = np.full(x.shape[:2] + tuple(out_sp), -np.inf if kind == "max" else 0.0)
    cnt = np.zeros_like(acc)
    for idx in np.ndindex(*k):
        sl = (slice(None), slice(None)) + tuple(
            slice(idx[i], idx[i] + stride[i] * (out_sp[i] - 1) + 1, stride[i]) for i in range(nsp))
        if kind == "max":
            acc = np.maximum(acc, xp[sl])
        else:
            acc += xp[sl]
            cnt += ones[sl]
    return acc if kind == "max" else acc / cnt


def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------- tensors, layers


def test_inputs_tensors_and_layers():
    builder = kiln.Builder(kiln.Logger())
    network = builder.create_network()
    x = network.add_input("x", kiln.DataType.FLOAT32, (2, -1))
    assert (x.name, x.dtype, x.shape) == ("x", kiln.float32, (2, -1))
    y = network.add_input("y", np.int64, [3])  # numpy types work as dtypes
    assert y.dtype == kiln.int64
    assert network.num_inputs == 2 and network.get_input(1) == y
    x.name = "x2"
    assert network.get_input(0).name == "x2"
    layer = network.add_identity(x)
    assert network.num_layers == 1 and network.get_layer(0) == layer
    assert layer.num_outputs == 1
    layer.name = "my_identity"
    assert network.get_layer(0).name == "my_identity"
    out = layer.get_output(0)
    assert out.dtype == kiln.float32 and out.shape == (2, -1)
    assert not out.is_network_output
    network.mark_output(out)
    assert out.is_network_output and network.num_outputs == 1 and network.get_output(0) == out
    layer.precision = kiln.float16
    assert layer.precision == kiln.float16
    layer.set_precision(kiln.DataType.FLOAT32)
    with pytest.raises(kiln.KilnArgumentError, match="precision must be"):
        layer.precision = kiln.int8
    with pytest.raises(IndexError):
        layer.get_output(1)
    with pytest.raises(IndexError):
        network.get_input(2)
    with pytest.raises(kiln.KilnArgumentError, match="already has a tensor named 'y'"):
        network.add_input("y", kiln.float32, (1,))
    other = builder.create_network()
    with pytest.raises(kiln.KilnArgumentError, match="another network"):
        other.add_identity(x)
    with pytest.raises(kiln.KilnTypeError, match="ITensor"):
        network.add_identity("x2")
    assert "my_identity" in repr(layer) and "x2" in repr(x)


def test_convolution_2d():
    x = rand(2, 4, 9, 8)
    w = rand(6, 2, 3, 3)
    b = rand(6)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        conv = net.add_convolution_nd(t, 6, (3, 3), w, b, stride=(2, 1), pre_padding=(1, 0),
                                      post_padding=(0, 2), dilation=(1, 2), num_groups=2)
        assert conv.get_output(0).shape == (2, 6, 4, 6)
        return [conv.get_output(0)]

    (got,) = run(build, {"x": x})
    want = conv_ref(x, w, b, (2, 1), (1, 0), (0, 2), (1, 2), 2)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_convolution_1d_no_bias_float64_weights():
    x = rand(1, 3, 10)
    w = rng.standard_normal((5, 3, 4))  # float64: converted to the input's float32

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        return [net.add_convolution_nd(t, 5, (4,), w, None, padding=1).get_output(0)]

    (got,) = run(build, {"x": x})
    np.testing.assert_allclose(got, conv_ref(x, w, None, (1,), (1,), (1,), (1,), 1), atol=1e-4)


def test_deconvolution():
    x = rand(1, 4, 3, 4)
    w = rand(4, 3, 3, 2)  # [in, out / groups, kh, kw]
    b = rand(3)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        return [net.add_deconvolution_nd(t, 3, (3, 2), kiln.Weights(w), kiln.Weights(b),
                                         stride=2, padding=(1, 0)).get_output(0)]

    (got,) = run(build, {"x": x})
    want = deconv_ref(x, w, b, (2, 2), (1, 0), (1, 0), 1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_matrix_multiply():
    a, b = rand(2, 3, 4), rand(2, 5, 4)

    def build(net):
        ta = net.add_input("a", kiln.float32, a.shape)
        tb = net.add_input("b", kiln.float32, b.shape)
        nt = net.add_matrix_multiply(ta, kiln.MatrixOperation.NONE, tb,
                                     kiln.MatrixOperation.TRANSPOSE)
        tn = net.add_matrix_multiply(ta, True, ta, False)  # bools work too
        return [nt.get_output(0), tn.get_output(0)]

    got_nt, got_tn = run(build, {"a": a, "b": b})
    np.testing.assert_allclose(got_nt, a @ b.transpose(0, 2, 1), atol=1e-5)
    np.testing.assert_allclose(got_tn, a.transpose(0, 2, 1) @ a, atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 6), (2, 3, 6)])
def test_fully_connected(shape):
    x = rand(*shape)
    w, b = rand(4, 6), rand(4)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        fc = net.add_fully_connected(t, 4, w, b)
        nobias = net.add_fully_connected(t, 4, w)
        return [fc.get_output(0), nobias.get_output(0)]

    got, got_nb = run(build, {"x": x})
    np.testing.assert_allclose(got, x @ w.T + b, atol=1e-5)
    np.testing.assert_allclose(got_nb, x @ w.T, atol=1e-5)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = [
    (A.RELU, {}, lambda x: np.maximum(x, 0)),
    (A.SIGMOID, {}, lambda x: 1 / (1 + np.exp(-x))),
    (A.TANH, {}, np.tanh),
    (A.LEAKY_RELU, {}, lambda x: np.where(x > 0, x, 0.01 * x)),
    (A.LEAKY_RELU, {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    (A.ELU, {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    (A.SELU, {}, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))),
    (A.SOFTSIGN, {}, lambda x: x / (1 + np.abs(x))),
    (A.SOFTPLUS, {}, lambda x: np.log1p(np.exp(x))),
    (A.CLIP, {"alpha": -0.5, "beta": 0.7}, lambda x: np.clip(x, -0.5, 0.7)),
    (A.HARD_SIGMOID, {}, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    (A.GELU_ERF, {}, lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    (A.GELU_TANH, {}, _gelu_tanh),
    (A.SWISH, {}, lambda x: x / (1 + np.exp(-x))),
]


@pytest.mark.parametrize("kind,params,ref", ACTIVATIONS,
                         ids=["%s%s" % (k.name, "-" + "-".join(p) if p else "")
                              for k, p, _ in ACTIVATIONS])
def test_activation(kind, params, ref):
    x = rand(3, 7) * 2

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        return [net.add_activation(t, kind, **params).get_output(0)]

    (got,) = run(build, {"x": x})
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), atol=1e-5, rtol=1e-5)


def test_clip_needs_bounds():
    net = kiln.Builder(kiln.Logger()).create_network()
    t = net.add_input("x", kiln.float32, (2,))
    with pytest.raises(kiln.KilnArgumentError, match="CLIP needs alpha"):
        net.add_activation(t, A.CLIP)


@pytest.mark.parametrize("kind", [kiln.PoolingType.MAX, kiln.PoolingType.AVERAGE])
def test_pooling(kind):
    x = rand(2, 3, 7, 6)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        plain = net.add_pooling_nd(t, kind, (2, 2), stride=(2, 2))
        padded = net.add_pooling_nd(t, kind, (3, 3), stride=2, padding=1)
        return [plain.get_output(0), padded.get_output(0)]

    plain, padded = run(build, {"x": x})
    name = "max" if kind == kiln.PoolingType.MAX else "avg"
    np.testing.assert_allclose(plain, pool_ref(x, name, (2, 2), (2, 2), (0, 0), (0, 0)),
                               atol=1e-5)
    np.testing.assert_allclose(padded, pool_ref(x, name, (3, 3), (2, 2), (1, 1), (1, 1)),
                               atol=1e-5)


ELEMENTWISE = [(E.SUM, np.add), (E.SUB, np.subtract), (E.PROD, np.multiply),
               (E.DIV, np.divide), (E.MAX, np.maximum), (E.MIN, np.minimum), (E.POW, np.power)]


@pytest.mark.parametrize("op,ref", ELEMENTWISE, ids=[o.name for o, _ in ELEMENTWISE])
def test_elementwise_broadcast(op, ref):
    a = np.abs(rand(2, 3, 4)) + 0.5
    b = rand(3, 1)

    def build(net):
        ta = net.add_input("a", kiln.float32, a.shape)
        tb = net.add_input("b", kiln.float32, b.shape)
        layer = net.add_elementwise(ta, tb, op)
        assert layer.get_output(0).shape == (2, 3, 4)
        return [layer.get_output(0)]

    (got,) = run(build, {"a": a, "b": b})
    np.testing.assert_allclose(got, ref(a, b), rtol=1e-5, atol=1e-6)


UNARY = [(U.EXP, np.exp), (U.LOG, np.log), (U.SQRT, np.sqrt), (U.RECIP, np.reciprocal),
         (U.ABS, np.abs), (U.NEG, np.negative), (U.SIN, np.sin), (U.COS, np.cos),
         (U.ERF, np.vectorize(math.erf)), (U.FLOOR, np.floor), (U.CEIL, np.ceil)]


@pytest.mark.parametrize("op,ref", UNARY, ids=[o.name for o, _ in UNARY])
def test_unary(op, ref):
    x = np.abs(rand(4, 5)) + 0.1
    x[0] *= -1 if op in (U.ABS, U.NEG, U.FLOOR, U.CEIL, U.ERF, U.SIN, U.COS) else 1

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        return [net.add_unary(t, op).get_output(0)]

    (got,) = run(build, {"x": x})
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_unary_not_on_bool():
    x = np.array([True, False, True])

    def build(net):
        t = net.add_input("x", kiln.bool, x.shape)
        return [net.add_unary(t, U.NOT).get_output(0)]

    (got,) = run(build, {"x": x})
    np.testing.assert_array_equal(got, ~x)


def test_softmax():
    x = rand(2, 3, 4)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        return [net.add_softmax(t).get_output(0), net.add_softmax(t, axis=1).get_output(0),
                net.add_softmax(t, axes=1 << 0).get_output(0)]

    last, mid, first = run(build, {"x": x})
    np.testing.assert_allclose(last, softmax_ref(x, -1), atol=1e-6)
    np.testing.assert_allclose(mid, softmax_ref(x, 1), atol=1e-6)
    np.testing.assert_allclose(first, softmax_ref(x, 0), atol=1e-6)


def test_concatenation():
    a, b, c = rand(2, 1, 3), rand(2, 4, 3), rand(2, 2, 3)

    def build(net):
        ts = [net.add_input(n, kiln.float32, v.shape) for n, v in zip("abc", (a, b, c))]
        layer = net.add_concatenation(ts, axis=1)
        assert layer.get_output(0).shape == (2, 7, 3)
        return [layer.get_output(0), net.add_concatenation(ts[:1] * 2).get_output(0)]

    got, twice = run(build, {"a": a, "b": b, "c": c})
    np.testing.assert_array_equal(got, np.concatenate([a, b, c], axis=1))
    np.testing.assert_array_equal(twice, np.concatenate([a, a], axis=0))


def test_shuffle():
    x = rand(2, 3, 4)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        full = net.add_shuffle(t, first_transpose=(2, 0, 1), reshape_dims=(4, -1),
                               second_transpose=(1, 0))
        flat = net.add_shuffle(t, reshape_dims=(0, -1))
        perm = net.add_shuffle(t, (1, 0, 2))
        same = net.add_shuffle(t)
        return [l.get_output(0) for l in (full, flat, perm, same)]

    full, flat, perm, same = run(build, {"x": x})
    np.testing.assert_array_equal(full, x.transpose(2, 0, 1).reshape(4, -1).T)
    np.testing.assert_array_equal(flat, x.reshape(2, -1))
    np.testing.assert_array_equal(perm, x.transpose(1, 0, 2))
    np.testing.assert_array_equal(same, x)


def test_slice():
    x = rand(4, 6, 5)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        a = net.add_slice(t, (1, 0, 0), (2, 3, 5), (1, 2, 1))
        b = net.add_slice(t, (3, 5, 4), (2, 3, 2), (-1, -2, -3))
        return [a.get_output(0), b.get_output(0)]

    a, b = run(build, {"x": x})
    np.testing.assert_array_equal(a, x[1:3, 0:6:2, :])
    np.testing.assert_array_equal(b, x[3:1:-1, 5:0:-2, 4::-3])


def test_gather_with_constant_indices():
    x = rand(5, 3)
    idx = np.array([[4, 0], [2, 2]], np.int64)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        const = net.add_constant(idx.shape, idx)
        rows = net.add_gather(t, const.get_output(0), axis=0)
        i32 = net.add_input("i", kiln.int32, (2,))
        cols = net.add_gather(t, i32, axis=1)
        return [rows.get_output(0), cols.get_output(0)]

    rows, cols = run(build, {"x": x, "i": np.array([2, 0], np.int32)})
    np.testing.assert_array_equal(rows, x[idx])
    np.testing.assert_array_equal(cols, x[:, [2, 0]])


REDUCE = [(R.SUM, np.sum), (R.MEAN, np.mean), (R.MAX, np.max), (R.MIN, np.min),
          (R.PROD, np.prod)]


@pytest.mark.parametrize("op,ref", REDUCE, ids=[o.name for o, _ in REDUCE])
def test_reduce(op, ref):
    x = rand(2, 3, 4)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        keep = net.add_reduce(t, op, (1 << 1) | (1 << 2), True)  # TensorRT's bit mask
        drop = net.add_reduce(t, op, [0, -1], False)  # or a list of axes
        assert keep.get_output(0).shape == (2, 1, 1) and drop.get_output(0).shape == (3,)
        return [keep.get_output(0), drop.get_output(0)]

    keep, drop = run(build, {"x": x})
    np.testing.assert_allclose(keep, ref(x, axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(drop, ref(x, axis=(0, 2)), rtol=1e-5, atol=1e-6)


def test_constant():
    x = rand(2, 3)
    c = rand(2, 3)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        const = net.add_constant((2, 3), c)
        assert const.get_output(0).shape == (2, 3)
        listed = net.add_constant((3,), [1.0, 2.0, 3.0])  # a list is float32
        assert listed.get_output(0).dtype == kiln.float32
        s = net.add_elementwise(t, const.get_output(0), E.SUM)
        p = net.add_elementwise(s.get_output(0), listed.get_output(0), E.PROD)
        return [p.get_output(0)]

    (got,) = run(build, {"x": x})
    np.testing.assert_allclose(got, (x + c) * np.array([1, 2, 3], np.float32), atol=1e-6)


def test_normalization():
    x = rand(2, 3, 4, 5)
    scale, bias = rand(1, 1, 4, 5), rand(1, 1, 4, 5)
    cscale, cbias = rand(1, 3, 1, 1), rand(1, 3, 1, 1)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        s = net.add_constant(scale.shape, scale).get_output(0)
        b = net.add_constant(bias.shape, bias).get_output(0)
        layer = net.add_normalization(t, s, b, (1 << 2) | (1 << 3), epsilon=1e-3)
        cs = net.add_constant(cscale.shape, cscale).get_output(0)
        cb = net.add_constant(cbias.shape, cbias).get_output(0)
        inst = net.add_normalization(t, cs, cb, [2, 3])  # instance norm: decomposed
        return [layer.get_output(0), inst.get_output(0)]

    got, inst = run(build, {"x": x})
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(2, 3), keepdims=True)
    var = x64.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(got, (x64 - mean) / np.sqrt(var + 1e-3) * scale + bias,
                               atol=1e-4)
    np.testing.assert_allclose(inst, (x64 - mean) / np.sqrt(var + 1e-5) * cscale + cbias,
                               atol=1e-4)


@pytest.mark.parametrize("mode", [kiln.ResizeMode.NEAREST, kiln.ResizeMode.LINEAR,
                                  kiln.ResizeMode.CUBIC])
def test_resize(mode):
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    x = rand(1, 2, 3, 4)
    out_shape = (1, 2, 6, 7)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        layer = net.add_resize(t, out_shape, mode)
        assert layer.get_output(0).shape == out_shape
        return [layer.get_output(0)]

    (got,) = run(build, {"x": x})
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"],
                            mode=mode.name.lower())
    graph = helper.make_graph(
        [node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("sizes", TensorProto.INT64, [4], out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_identity_and_cast():
    x = np.array([[1.0, -2.0, 3.0]], np.float32)

    def build(net):
        t = net.add_input("x", kiln.float32, x.shape)
        ident = net.add_identity(t)
        cast = net.add_cast(t, kiln.int32)
        half = net.add_cast(t, np.float16)
        assert cast.get_output(0).dtype == kiln.int32
        return [ident.get_output(0), cast.get_output(0), half.get_output(0)]

    ident, cast, half = run(build, {"x": x}, plan=False)
    np.testing.assert_array_equal(ident, x)
    assert cast.dtype == np.int32 and half.dtype == np.float16
    np.testing.assert_array_equal(cast, x.astype(np.int32))
    np.testing.assert_array_equal(half, x.astype(np.float16))


def test_small_cnn_against_numpy():
    """The docs' layer-API example: conv -> relu -> pool -> flatten -> fc -> softmax."""
    x = rand(2, 3, 16, 16)
    conv_w, conv_b = rand(8, 3, 3, 3) * 0.3, rand(8) * 0.1
    fc_w, fc_b = rand(10, 8 * 8 * 8) * 0.05, rand(10) * 0.1

    def build(net):
        image = net.add_input("image", kiln.float32, (-1, 3, 16, 16))
        conv = net.add_convolution_nd(image, 8, (3, 3), conv_w, conv_b, padding=(1, 1))
        relu = net.add_activation(conv.get_output(0), kiln.ActivationType.RELU)
        pool = net.add_pooling_nd(relu.get_output(0), kiln.PoolingType.MAX, (2, 2),
                                  stride=(2, 2))
        flat = net.add_shuffle(pool.get_output(0), reshape_dims=(0, -1))
        fc = net.add_fully_connected(flat.get_output(0), 10, fc_w, fc_b)
        prob = net.add_softmax(fc.get_output(0), axis=1).get_output(0)
        prob.name = "probabilities"
        return [prob]

    logger = kiln.Logger(kiln.Logger.ERROR)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    network.mark_output(build(network)[0])
    config = builder.create_builder_config()
    config.max_batch_size = 4
    engine = builder.build_engine(network, config)
    got = engine.create_execution_context().infer({"image": x})["probabilities"]
    h = np.maximum(conv_ref(x, conv_w, conv_b, (1, 1), (1, 1), (1, 1), (1, 1), 1), 0)
    h = pool_ref(h, "max", (2, 2), (2, 2), (0, 0), (0, 0)).reshape(2, -1)
    want = softmax_ref(h @ fc_w.T + fc_b, 1)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_layer_errors_name_the_problem():
    net = kiln.Builder(kiln.Logger()).create_network()
    t = net.add_input("x", kiln.float32, (1, 3, 8, 8))
    with pytest.raises(kiln.KilnArgumentError, match="kernel weights have 10 values; shape "
                                                     "\\[4, 3, 3, 3\\] needs 108"):
        net.add_convolution_nd(t, 4, (3, 3), np.zeros(10, np.float32))
    with pytest.raises(kiln.KilnArgumentError, match="axis 5 is out of range"):
        net.add_softmax(t, axis=5)
    with pytest.raises(kiln.KilnArgumentError, match="axes_mask is 0"):
        net.add_reduce(t, R.SUM, 0, True)
    with pytest.raises(kiln.KilnArgumentError, match="ActivationType"):
        net.add_activation(t, 99)
    with pytest.raises(kiln.KilnArgumentError, match="3 entries"):
        net.add_pooling_nd(t, kiln.PoolingType.MAX, (2, 2), stride=(1, 1, 1))
    assert net.num_layers == 0  # failed calls add nothing
