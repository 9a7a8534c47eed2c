"""NetworkDefinition, ITensor, ILayer and Weights: the layer API.

The methods follow TensorRT's ``INetworkDefinition``. Where TensorRT sets a layer's
parameters after creating it (``layer.stride_nd = ...``), kiln takes them as keyword
arguments of the ``add_*`` call, because kiln.h fixes them when the layer is made::

    conv = network.add_convolution_nd(x, 16, (3, 3), w, b, stride=(1, 1), padding=(1, 1))

Weights are numpy arrays (or anything ``numpy.asarray`` takes, read as float32, or a
``kiln.Weights``); kiln copies them, so the arrays may be freed afterwards.
"""

import ctypes

import numpy as np

from ._enums import (ActivationType, DataType, ElementWiseOperation, MatrixOperation,
                     PoolingType, ReduceOperation, ResizeMode, UnaryOperation, to_dtype, to_enum)
from ._errors import KilnArgumentError, KilnTypeError
from ._handle import Handle, Wrapper
from ._lib import C, Weights_, Window, check, cstr, dims_to_tuple, text, to_dims

__all__ = ["NetworkDefinition", "INetworkDefinition", "ITensor", "ILayer", "Weights"]


# ---------------------------------------------------------------------------- weights


class Weights:
    """Weights for the layer API, as TensorRT's ``trt.Weights``: ``kiln.Weights(array)``
    or ``kiln.Weights()`` for none. A plain numpy array works the same."""

    def __init__(self, a=None, dtype=None):
        if a is None:
            self._array = None
        else:
            if dtype is not None:
                a = np.asarray(a, dtype=to_dtype(dtype).numpy)
            elif not isinstance(a, np.ndarray):
                a = np.asarray(a, dtype=np.float32)
            self._array = np.ascontiguousarray(a)

    def numpy(self):
        return self._array

    @property
    def size(self):
        return 0 if self._array is None else int(self._array.size)

    @property
    def nbytes(self):
        return 0 if self._array is None else int(self._array.nbytes)

    @property
    def dtype(self):
        return None if self._array is None else DataType.from_numpy(self._array.dtype)

    def __len__(self):
        return self.size

    def __repr__(self):
        if self._array is None:
            return "kiln.Weights()"
        return "kiln.Weights(%s, %d values)" % (self._array.dtype, self._array.size)


def _weights(w, like=None, what="weights"):
    """(kiln_weights, the array to keep until the call returns). ``like`` is the dtype of
    the layer's input: float weights are converted to it (numpy's default float64 is the
    classic slip)."""
    if w is None:
        return Weights_(0, None, 0), None
    arr = w.numpy() if isinstance(w, Weights) else w
    if arr is None:
        return Weights_(0, None, 0), None
    if not isinstance(arr, np.ndarray):
        target = np.float32
        if like is not None and like != DataType.UNDEFINED:
            try:
                target = like.numpy
            except TypeError:
                pass
        arr = np.asarray(arr, dtype=target)
    if like is not None and arr.dtype.kind == "f":
        try:
            want = like.numpy
        except TypeError:
            want = None
        if want is not None and want.kind == "f" and arr.dtype != want:
            arr = arr.astype(want)
    arr = np.ascontiguousarray(arr)
    try:
        dt = DataType.from_numpy(arr.dtype)
    except KilnTypeError:
        raise KilnTypeError("%s: numpy dtype %s has no kiln DataType" % (what, arr.dtype)) from None
    return Weights_(int(dt), arr.ctypes.data if arr.size else None, int(arr.size)), arr


# ---------------------------------------------------------------------------- tensors, layers


class ITensor:
    """A tensor of a network (owned by it), as TensorRT's ``ITensor``."""

    __slots__ = ("_p", "network")

    def __init__(self, ptr, network):
        self._p = ptr
        self.network = network

    @property
    def _ptr(self):
        self.network._ptr  # raises if the network is gone
        return self._p

    @property
    def name(self):
        return text(C.tensor_get_name(self._ptr))

    @name.setter
    def name(self, value):
        check(C.tensor_set_name(self._ptr, cstr(value, "name")))

    @property
    def dtype(self):
        return DataType(C.tensor_get_dtype(self._ptr))

    @property
    def shape(self):
        """The shape as a tuple (-1 for a dynamic dim; None while the rank is unknown)."""
        return dims_to_tuple(C.tensor_get_dims(self._ptr))

    @property
    def is_network_input(self):
        return any(t == self for t in self.network.inputs)

    @property
    def is_network_output(self):
        return any(t == self for t in self.network.outputs)

    def __eq__(self, other):
        return isinstance(other, ITensor) and other._p == self._p

    def __hash__(self):
        return hash(self._p)

    def __repr__(self):
        return "<kiln.ITensor '%s' %s %s>" % (self.name, self.dtype.kiln_name, self.shape)


class ILayer:
    """A layer of a network (owned by it), as TensorRT's ``ILayer``."""

    __slots__ = ("_p", "network")

    def __init__(self, ptr, network):
        self._p = ptr
        self.network = network

    @property
    def _ptr(self):
        self.network._ptr
        return self._p

    @property
    def name(self):
        return text(C.layer_get_name(self._ptr))

    @name.setter
    def name(self, value):
        check(C.layer_set_name(self._ptr, cstr(value, "name")))

    @property
    def num_outputs(self):
        n = 0
        while C.layer_get_output(self._ptr, n):
            n += 1
        return n

    def get_output(self, index=0):
        ptr = C.layer_get_output(self._ptr, int(index))
        if not ptr:
            raise IndexError("layer '%s' has no output %d (it has %d)"
                             % (self.name, index, self.num_outputs))
        return ITensor(ptr, self.network)

    @property
    def precision(self):
        """The precision override set here (None: the builder decides)."""
        return self.network._precisions.get(self._p)

    @precision.setter
    def precision(self, dtype):
        dtype = to_dtype(dtype, "precision")
        check(C.layer_set_precision(self._ptr, int(dtype)))
        self.network._precisions[self._p] = dtype

    def set_precision(self, dtype):
        self.precision = dtype

    def __eq__(self, other):
        return isinstance(other, ILayer) and other._p == self._p

    def __hash__(self):
        return hash(self._p)

    def __repr__(self):
        return "<kiln.ILayer '%s'>" % self.name


# ---------------------------------------------------------------------------- network


def _spatial(value, n, name, default):
    if value is None:
        return (default,) * n
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    values = tuple(int(v) for v in value)
    if len(values) != n:
        raise KilnArgumentError("%s %s has %d entries; the kernel has %d spatial dims"
                                % (name, values, len(values), n))
    return values


def _window(kernel_shape, stride, padding, pre_padding, post_padding, dilation):
    if isinstance(kernel_shape, (int, np.integer)):
        kernel_shape = (int(kernel_shape),)
    kernel = tuple(int(k) for k in kernel_shape)
    n = len(kernel)
    if not 1 <= n <= 3:
        raise KilnArgumentError("kernel shape %s: 1, 2 or 3 spatial dims are allowed" % (kernel,))
    pad = _spatial(padding, n, "padding", 0)
    w = Window()
    w.nb_spatial = n
    for i, v in enumerate(kernel):
        w.kernel[i] = v
    for field, values in (("stride", _spatial(stride, n, "stride", 1)),
                          ("pad_begin", _spatial(pre_padding, n, "pre_padding", 0)
                           if pre_padding is not None else pad),
                          ("pad_end", _spatial(post_padding, n, "post_padding", 0)
                           if post_padding is not None else pad),
                          ("dilation", _spatial(dilation, n, "dilation", 1))):
        arr = getattr(w, field)
        for i, v in enumerate(values):
            arr[i] = v
    return w


def _axes_mask(axes, rank, what="axes"):
    """A bit mask from a mask (int) or a sequence of axes (negative ones count from the
    back)."""
    if isinstance(axes, (int, np.integer)):
        return int(axes)
    mask = 0
    for a in axes:
        a = int(a)
        if a < 0:
            if rank is None:
                raise KilnArgumentError("%s: negative axis %d but the input's rank is unknown"
                                        % (what, a))
            a += rank
        if a < 0 or a >= 32:
            raise KilnArgumentError("%s: axis %d is out of range" % (what, a))
        mask |= 1 << a
    return mask


_ACTIVATION_DEFAULTS = {
    ActivationType.LEAKY_RELU: (0.01, 0.0),
    ActivationType.ELU: (1.0, 0.0),
    ActivationType.SELU: (1.6732632423543772, 1.0507009873554805),
    ActivationType.HARD_SIGMOID: (0.2, 0.5),
}


class NetworkDefinition(Wrapper):
    """A network, as TensorRT's ``INetworkDefinition``: made by ``builder.create_network()``,
    filled by an ``OnnxParser`` or the ``add_*`` calls."""

    _kind = "network"

    @classmethod
    def _create(cls, ptr, builder, flags):
        self = cls.__new__(cls)
        self._h = Handle(ptr, C.network_destroy, "network", deps=(builder._h,))
        self.builder = builder
        self._flags = flags
        self._precisions = {}
        return self

    @property
    def flags(self):
        return self._flags

    def get_flag(self, flag):
        return bool(self._flags >> int(flag) & 1)

    # ---- structure
    @property
    def num_inputs(self):
        return int(C.network_num_inputs(self._ptr))

    @property
    def num_outputs(self):
        return int(C.network_num_outputs(self._ptr))

    @property
    def num_layers(self):
        return int(C.network_num_layers(self._ptr))

    def _index(self, index, count, what):
        index = int(index)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("%s %d is out of range (the network has %d)" % (what, index, count))
        return index

    def get_input(self, index):
        i = self._index(index, self.num_inputs, "input")
        return ITensor(C.network_get_input(self._ptr, i), self)

    def get_output(self, index):
        i = self._index(index, self.num_outputs, "output")
        return ITensor(C.network_get_output(self._ptr, i), self)

    def get_layer(self, index):
        i = self._index(index, self.num_layers, "layer")
        return ILayer(C.network_get_layer(self._ptr, i), self)

    @property
    def inputs(self):
        return [self.get_input(i) for i in range(self.num_inputs)]

    @property
    def outputs(self):
        return [self.get_output(i) for i in range(self.num_outputs)]

    @property
    def layers(self):
        return [self.get_layer(i) for i in range(self.num_layers)]

    def __len__(self):
        return self.num_layers

    def __getitem__(self, index):
        return self.get_layer(index)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        return "<kiln.NetworkDefinition %d inputs, %d layers, %d outputs>" % (
            self.num_inputs, self.num_layers, self.num_outputs)

    # ---- helpers
    def _t(self, tensor, what="input"):
        if not isinstance(tensor, ITensor):
            raise KilnTypeError("%s must be a kiln.ITensor (from get_input, add_input or "
                                "layer.get_output), not %s" % (what, type(tensor).__name__))
        if tensor.network._h is not self._h:
            raise KilnArgumentError("%s '%s' belongs to another network" % (what, tensor.name))
        return tensor._p

    def _layer(self, status_fn, *args):
        out = ctypes.c_void_p()
        check(status_fn(self._ptr, *args, ctypes.byref(out)))
        return ILayer(out.value, self)

    # ---- inputs and outputs
    def add_input(self, name, dtype, shape):
        """A network input; -1 marks a dynamic dimension."""
        out = ctypes.c_void_p()
        check(C.network_add_input(self._ptr, cstr(name), int(to_dtype(dtype)),
                                  to_dims(shape, "shape of input '%s'" % name), ctypes.byref(out)))
        return ITensor(out.value, self)

    def mark_output(self, tensor):
        check(C.network_mark_output(self._ptr, self._t(tensor, "tensor")))

    # ---- layers
    def add_convolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None, *,
                           stride=None, padding=None, pre_padding=None, post_padding=None,
                           dilation=None, num_groups=1):
        """Convolution; ``kernel`` is [out, in / groups, *kernel_shape], ``bias`` [out] or
        None. Strides and dilations default to 1, padding to 0."""
        x = self._t(input)
        w = _window(kernel_shape, stride, padding, pre_padding, post_padding, dilation)
        kw, keep_k = _weights(kernel, input.dtype, "kernel")
        bw, keep_b = _weights(bias, input.dtype, "bias")
        return self._layer(C.network_add_convolution, x, int(num_output_maps), w,
                           int(num_groups), kw, bw)

    def add_deconvolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None, *,
                             stride=None, padding=None, pre_padding=None, post_padding=None,
                             dilation=None, num_groups=1):
        """Transposed convolution; ``kernel`` is [in, out / groups, *kernel_shape]."""
        x = self._t(input)
        w = _window(kernel_shape, stride, padding, pre_padding, post_padding, dilation)
        kw, keep_k = _weights(kernel, input.dtype, "kernel")
        bw, keep_b = _weights(bias, input.dtype, "bias")
        return self._layer(C.network_add_deconvolution, x, int(num_output_maps), w,
                           int(num_groups), kw, bw)

    def add_matrix_multiply(self, input0, op0, input1, op1):
        """``op(input0) @ op(input1)`` with ``kiln.MatrixOperation.NONE`` or ``TRANSPOSE``
        (True/False work too)."""
        a, b = self._t(input0, "input0"), self._t(input1, "input1")
        t0 = int(to_enum(MatrixOperation, int(op0), "op0"))
        t1 = int(to_enum(MatrixOperation, int(op1), "op1"))
        return self._layer(C.network_add_matrix_multiply, a, t0, b, t1)

    def add_fully_connected(self, input, num_outputs, kernel, bias=None):
        """``y = x @ kernel.T + bias`` over the last dim of x; kernel is [out, in]."""
        x = self._t(input)
        kw, keep_k = _weights(kernel, input.dtype, "kernel")
        bw, keep_b = _weights(bias, input.dtype, "bias")
        return self._layer(C.network_add_fully_connected, x, int(num_outputs), kw, bw)

    def add_activation(self, input, type, alpha=None, beta=None):
        """An activation. alpha/beta default to ONNX's values for LEAKY_RELU (0.01), ELU
        (1), SELU and HARD_SIGMOID (0.2, 0.5); CLIP needs alpha (min) and beta (max)."""
        x = self._t(input)
        type = to_enum(ActivationType, type, "type")
        if type == ActivationType.CLIP and (alpha is None or beta is None):
            raise KilnArgumentError("add_activation: CLIP needs alpha (the minimum) and beta "
                                    "(the maximum)")
        da, db = _ACTIVATION_DEFAULTS.get(type, (0.0, 0.0))
        alpha = da if alpha is None else float(alpha)
        beta = db if beta is None else float(beta)
        return self._layer(C.network_add_activation, x, int(type), alpha, beta)

    def add_pooling_nd(self, input, type, window_size, *, stride=None, padding=None,
                       pre_padding=None, post_padding=None, dilation=None):
        """Max or average pooling (padding does not count toward an average). Strides
        default to 1, as in TensorRT and ONNX."""
        x = self._t(input)
        type = to_enum(PoolingType, type, "type")
        w = _window(window_size, stride, padding, pre_padding, post_padding, dilation)
        return self._layer(C.network_add_pooling, x, int(type), w)

    def add_elementwise(self, input1, input2, op):
        a, b = self._t(input1, "input1"), self._t(input2, "input2")
        op = to_enum(ElementWiseOperation, op, "op")
        return self._layer(C.network_add_elementwise, a, b, int(op))

    def add_unary(self, input, op):
        x = self._t(input)
        op = to_enum(UnaryOperation, op, "op")
        return self._layer(C.network_add_unary, x, int(op))

    def add_softmax(self, input, axis=-1, *, axes=None):
        """Softmax over ``axis`` (default the last). ``axes``, TensorRT's one-bit mask, is
        accepted too."""
        x = self._t(input)
        if axes is not None:
            axes = int(axes)
            if axes <= 0 or axes & (axes - 1):
                raise KilnArgumentError("add_softmax: axes must have exactly one bit set, not "
                                        "0x%x" % axes)
            axis = axes.bit_length() - 1
        return self._layer(C.network_add_softmax, x, int(axis))

    def add_concatenation(self, inputs, axis=0):
        inputs = list(inputs)
        ptrs = (ctypes.c_void_p * max(len(inputs), 1))(
            *[self._t(t, "inputs[%d]" % i) for i, t in enumerate(inputs)])
        return self._layer(C.network_add_concatenation, ptrs, len(inputs), int(axis))

    def add_shuffle(self, input, first_transpose=None, reshape_dims=None,
                    second_transpose=None):
        """Transpose, then reshape (0 copies the input dim, -1 is inferred), then a second
        transpose; each step optional."""
        x = self._t(input)

        def perm(p):
            if p is None:
                return None
            p = [int(v) for v in p]
            return (ctypes.c_int32 * max(len(p), 1))(*p)

        reshape = None
        if reshape_dims is not None:
            reshape = ctypes.byref(to_dims(reshape_dims, "reshape_dims"))
        return self._layer(C.network_add_shuffle, x, perm(first_transpose), reshape,
                           perm(second_transpose))

    def add_slice(self, input, start, shape, stride):
        x = self._t(input)
        return self._layer(C.network_add_slice, x, to_dims(start, "start"),
                           to_dims(shape, "shape"), to_dims(stride, "stride"))

    def add_gather(self, input, indices, axis=0):
        x, i = self._t(input), self._t(indices, "indices")
        return self._layer(C.network_add_gather, x, i, int(axis))

    def add_reduce(self, input, op, axes, keep_dims):
        """``axes`` is a bit mask (bit i reduces dim i, as TensorRT) or a list of axes."""
        x = self._t(input)
        op = to_enum(ReduceOperation, op, "op")
        mask = _axes_mask(axes, _rank(input), "add_reduce axes")
        return self._layer(C.network_add_reduce, x, int(op), mask, 1 if keep_dims else 0)

    def add_constant(self, shape, weights):
        """A constant tensor of ``shape`` holding ``weights`` (any numpy dtype kiln has;
        a plain list is read as float32)."""
        dims = to_dims(shape, "shape")
        w, keep = _weights(weights, None, "weights")
        out = ctypes.c_void_p()
        check(C.network_add_constant(self._ptr, dims, w, ctypes.byref(out)))
        return ILayer(out.value, self)

    def add_normalization(self, input, scale, bias, axesMask, epsilon=1e-5):
        """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over the dims in
        ``axesMask`` (a bit mask, or a list of axes); scale and bias are tensors."""
        x = self._t(input)
        s, b = self._t(scale, "scale"), self._t(bias, "bias")
        mask = _axes_mask(axesMask, _rank(input), "add_normalization axes")
        return self._layer(C.network_add_normalization, x, s, b, mask, float(epsilon))

    def add_resize(self, input, shape, resize_mode=ResizeMode.NEAREST):
        """Resizes to ``shape`` (every dim, batch and channels included)."""
        x = self._t(input)
        mode = to_enum(ResizeMode, resize_mode, "resize_mode")
        return self._layer(C.network_add_resize, x, int(mode), to_dims(shape, "shape"))

    def add_identity(self, input):
        return self._layer(C.network_add_identity, self._t(input))

    def add_cast(self, input, to_type):
        x = self._t(input)
        return self._layer(C.network_add_cast, x, int(to_dtype(to_type, "to_type")))


INetworkDefinition = NetworkDefinition


def _rank(tensor):
    shape = tensor.shape
    return None if shape is None else len(shape)
