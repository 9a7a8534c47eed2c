"""Runtime, engines, execution contexts, profilers and the engine inspector."""

import ctypes
import json
import sys

import numpy as np

from ._enums import DataType, DeviceType, LayerInformationFormat, TensorIOMode, ValueKind, to_enum
from ._errors import KilnArgumentError, KilnError, KilnShapeError, KilnTypeError
from ._handle import Handle, Wrapper
from ._lib import C, Dims, check, cstr, dims_to_tuple, error_for, text, to_dims
from .builder import host_memory_from
from .logger import Logger, _logger_handle

__all__ = ["Runtime", "ICudaEngine", "Engine", "IExecutionContext", "ExecutionContext",
           "IProfiler", "Profiler", "EngineInspector"]

_TEXT_MODE_HINT = ('The plan must be the file\'s bytes: open the file with "rb" '
                   '(open(path, "rb").read()), not in text mode.')


def _plan_bytes(plan):
    """A uint8 numpy view of a plan (no copy), with a helpful error for a str."""
    if isinstance(plan, str):
        raise KilnTypeError("a plan must be bytes, not a str. " + _TEXT_MODE_HINT)
    try:
        return np.frombuffer(plan, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        raise KilnTypeError("a plan must be a bytes-like object (bytes, kiln.HostMemory, "
                            "memoryview...), not %s" % type(plan).__name__) from None


def _looks_like_text(buf):
    """Whether plan bytes look mangled by a text-mode round trip (str.encode() of bytes
    decoded with errors="replace" leaves U+FFFD characters)."""
    return buf.tobytes().find(b"\xef\xbf\xbd") >= 0


class Runtime(Wrapper):
    """Loads plans, as TensorRT's ``trt.Runtime``: ``kiln.Runtime(logger)``."""

    _kind = "runtime"

    def __init__(self, logger=None):
        if logger is None:
            logger = Logger()
        self.logger = logger
        lh = _logger_handle(logger)
        out = ctypes.c_void_p()
        check(C.runtime_create(lh.ptr if lh else None, ctypes.byref(out)))
        self._h = Handle(out.value, C.runtime_destroy, "runtime", deps=(lh,))
        self._logger_h = lh

    def deserialize_engine(self, plan):
        """An engine from plan bytes (bytes, HostMemory, memoryview, ...). kiln copies
        what it needs, so ``plan`` may be freed afterwards."""
        buf = _plan_bytes(plan)
        out = ctypes.c_void_p()
        status = C.runtime_deserialize_engine(self._ptr, buf.ctypes.data if buf.size else None,
                                              buf.size, ctypes.byref(out))
        if status != 0:
            hint = None
            if status == 8 and _looks_like_text(buf):  # KILN_ERR_PLAN
                hint = _TEXT_MODE_HINT
            raise error_for(status, hint=hint)
        return ICudaEngine._create(out.value, self._logger_h)

    deserialize_cuda_engine = deserialize_engine

    def deserialize_engine_from_file(self, path):
        """An engine from a plan file, mapped: weights are used in place."""
        out = ctypes.c_void_p()
        check(C.runtime_deserialize_engine_from_file(self._ptr, cstr(path, "path"),
                                                     ctypes.byref(out)))
        return ICudaEngine._create(out.value, self._logger_h)

    def __repr__(self):
        return "<kiln.Runtime>"


# ---------------------------------------------------------------------------- engine


def _shape_of(fn, *args):
    d = Dims()
    check(fn(*args, ctypes.byref(d)))
    return dims_to_tuple(d)


class ICudaEngine(Wrapper):
    """An optimized network, as TensorRT's ``ICudaEngine`` (also ``kiln.Engine``: kiln
    engines run on the CPU too)."""

    _kind = "engine"

    @classmethod
    def _create(cls, ptr, logger_handle):
        self = cls.__new__(cls)
        self._h = Handle(ptr, C.engine_destroy, "engine", deps=(logger_handle,))
        return self

    # ---- I/O tensors
    @property
    def num_io_tensors(self):
        return int(C.engine_num_io_tensors(self._ptr))

    def get_tensor_name(self, index):
        name = C.engine_get_tensor_name(self._ptr, int(index))
        if name is None:
            raise IndexError("I/O tensor %d is out of range (the engine has %d)"
                             % (index, self.num_io_tensors))
        return text(name)

    @property
    def io_tensor_names(self):
        return [self.get_tensor_name(i) for i in range(self.num_io_tensors)]

    def _known(self, name):
        name = _tensor_name(name)
        if C.engine_get_tensor_mode(self._ptr, name.encode()) == TensorIOMode.NONE:
            names = ", ".join("'%s'" % n for n in self.io_tensor_names)
            raise KilnArgumentError("the engine has no input or output named '%s' (it has %s)"
                                    % (name, names))
        return name

    def get_tensor_mode(self, name):
        """``kiln.TensorIOMode.INPUT`` or ``OUTPUT`` (``NONE`` for an unknown name)."""
        return TensorIOMode(C.engine_get_tensor_mode(self._ptr, cstr(_tensor_name(name))))

    def get_tensor_dtype(self, name):
        name = self._known(name)
        return DataType(C.engine_get_tensor_dtype(self._ptr, name.encode()))

    def get_tensor_kind(self, name):
        """The declared kind of an I/O tensor: ``kiln.ValueKind.TENSOR``, ``SEQUENCE``,
        ``OPTIONAL`` or ``OPTIONAL_SEQUENCE`` (the dtype is then the elements')."""
        name = self._known(name)
        return ValueKind(C.engine_get_tensor_kind(self._ptr, name.encode()))

    def get_tensor_shape(self, name):
        """The shape as built; dynamic dims are -1."""
        return _shape_of(C.engine_get_tensor_shape, self._ptr, cstr(_tensor_name(name)))

    def get_tensor_profile_shape(self, name, profile_index=0):
        """``[min, opt, max]`` of input ``name`` in profile ``profile_index``."""
        name = cstr(_tensor_name(name))
        return [_shape_of(C.engine_get_profile_shape, self._ptr, name, int(profile_index), which)
                for which in range(3)]

    get_profile_shape = get_tensor_profile_shape

    @property
    def num_optimization_profiles(self):
        inputs = [n for n in self.io_tensor_names
                  if self.get_tensor_mode(n) == TensorIOMode.INPUT]
        if not inputs:
            return 0
        count, d = 0, Dims()
        while C.engine_get_profile_shape(self._ptr, inputs[0].encode(), count, 0,
                                         ctypes.byref(d)) == 0:
            count += 1
        C.clear_error()
        return count

    # ---- layers and memory
    @property
    def num_layers(self):
        return int(C.engine_num_layers(self._ptr))

    def _layer_text(self, fn, index):
        value = fn(self._ptr, int(index))
        if value is None:
            if not 0 <= int(index) < self.num_layers:
                raise IndexError("layer %d is out of range (the engine has %d)"
                                 % (index, self.num_layers))
            return ""
        return text(value)

    def get_layer_name(self, index):
        return self._layer_text(C.engine_get_layer_name, index)

    def get_layer_op(self, index):
        return self._layer_text(C.engine_get_layer_op, index)

    def get_layer_kernel(self, index):
        return self._layer_text(C.engine_get_layer_kernel, index)

    @property
    def planned_arena_bytes(self):
        """Bytes of the activation arena planned at the profile's opt shapes (0 when
        shapes depend on the data)."""
        return int(C.engine_get_planned_arena_bytes(self._ptr))

    device_memory_size = planned_arena_bytes

    @property
    def naive_activation_bytes(self):
        """The sum of the intermediate tensor sizes the arena replaces."""
        return int(C.engine_get_naive_activation_bytes(self._ptr))

    @property
    def weight_bytes(self):
        return int(C.engine_get_weight_bytes(self._ptr))

    @property
    def device(self):
        return DeviceType(C.engine_get_device(self._ptr))

    # ---- serialization, contexts
    def serialize(self):
        """The plan, as a :class:`kiln.HostMemory`."""
        out = ctypes.c_void_p()
        check(C.engine_serialize(self._ptr, ctypes.byref(out)))
        return host_memory_from(out.value)

    def serialize_to_file(self, path):
        check(C.engine_serialize_to_file(self._ptr, cstr(path, "path")))

    def create_execution_context(self):
        out = ctypes.c_void_p()
        check(C.engine_create_execution_context(self._ptr, ctypes.byref(out)))
        return IExecutionContext._create(out.value, self)

    def create_engine_inspector(self):
        return EngineInspector(self)

    def __repr__(self):
        return "<kiln.ICudaEngine device=%s, %d I/O tensors, %d layers>" % (
            self.device.name, self.num_io_tensors, self.num_layers)


Engine = ICudaEngine


def _tensor_name(name):
    if not isinstance(name, str):
        if hasattr(name, "name"):
            return name.name
        raise KilnTypeError("a tensor name must be a str, not %s" % type(name).__name__)
    return name


# ---------------------------------------------------------------------------- profilers


class IProfiler:
    """Per-layer timing, as TensorRT's ``IProfiler``: set ``context.profiler`` to an
    object with ``report_layer_time(layer_name, ms)``; it is called for every layer after
    each run."""

    def report_layer_time(self, layer_name, ms):
        raise NotImplementedError


class Profiler(IProfiler):
    """Prints each layer's time to stdout, as TensorRT's ``trt.Profiler``."""

    def report_layer_time(self, layer_name, ms):
        sys.stdout.write("%s: %.3f ms\n" % (layer_name, ms))


# ---------------------------------------------------------------------------- context


def _address(obj, what):
    """(address, object to keep alive) of a buffer: an int, None, a numpy array (or any
    __array_interface__), an object with __cuda_array_interface__, or a DLPack CPU tensor."""
    if obj is None:
        return 0, None
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj), None
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        return int(cai["data"][0]), obj
    if isinstance(obj, np.ndarray):
        if not obj.flags.c_contiguous:
            raise KilnArgumentError("%s: the array must be C-contiguous "
                                    "(numpy.ascontiguousarray(a))" % what)
        return int(obj.ctypes.data), obj
    ai = getattr(obj, "__array_interface__", None)
    if ai is not None:
        return int(ai["data"][0]), obj
    if hasattr(obj, "__dlpack__"):
        arr = np.from_dlpack(obj)
        return _address(arr, what)[0], (obj, arr)
    if hasattr(obj, "__index__"):  # kiln.cuda.DeviceAllocation and the like (not floats)
        return obj.__index__(), obj
    raise KilnTypeError("%s: an address must be an int, None or an array, not %s"
                        % (what, type(obj).__name__))


class IExecutionContext(Wrapper):
    """Runs an engine, as TensorRT's ``IExecutionContext`` (also
    ``kiln.ExecutionContext``). It keeps its engine alive."""

    _kind = "execution context"

    @classmethod
    def _create(cls, ptr, engine):
        self = cls.__new__(cls)
        self._h = Handle(ptr, C.context_destroy, "execution context", deps=(engine._h,))
        self._engine = engine
        # A view of the engine sharing its handle: closing the caller's engine object (or
        # leaving its `with` block) leaves this context working.
        self._e = ICudaEngine.__new__(ICudaEngine)
        self._e._h = engine._h
        self._bound = {}  # name -> (address, object kept alive)
        self._values = {}  # name -> sequence items kept alive while bound
        self._profiling = False
        self._profiler = None
        self.name = ""
        return self

    @property
    def engine(self):
        """The engine this context runs."""
        return self._engine

    # ---- shapes
    def set_input_shape(self, name, shape):
        """Fixes the shape of a dynamic input; outside the profile it raises
        KilnShapeError with the bounds. Returns True (as TensorRT)."""
        name = _tensor_name(name)
        check(C.context_set_input_shape(self._ptr, cstr(name),
                                        to_dims(shape, "shape of '%s'" % name)))
        return True

    def get_tensor_shape(self, name):
        """Inputs as set; outputs as inferred (after a run for data-dependent shapes)."""
        return _shape_of(C.context_get_tensor_shape, self._ptr, cstr(_tensor_name(name)))

    # ---- bindings
    def set_tensor_address(self, name, address):
        """Binds a buffer to an I/O tensor: an int address (host memory for CPU engines,
        device memory for CUDA engines), or an array (kept alive while bound). Returns
        True (as TensorRT)."""
        name = _tensor_name(name)
        ptr, keep = _address(address, "set_tensor_address('%s')" % name)
        check(C.context_set_tensor_address(self._ptr, cstr(name), ptr or None))
        self._bound[name] = (ptr, keep)
        return True

    def get_tensor_address(self, name):
        """The address last bound here (0 when none)."""
        return self._bound.get(_tensor_name(name), (0, None))[0]

    # ---- sequences, optionals and strings (CPU engines)
    def set_input_sequence(self, name, items):
        """Binds a sequence input (kind SEQUENCE or OPTIONAL_SEQUENCE): a list of arrays of
        the input's dtype, of any shapes. They are made contiguous and kept alive while
        bound; kiln reads them at each run."""
        name = _tensor_name(name)
        want = self._e.get_tensor_dtype(name).numpy
        arrays = []
        for i, item in enumerate(items):
            a = np.asarray(item)
            if a.dtype != want:
                if not isinstance(item, np.ndarray) and (a.dtype.kind == want.kind or
                                                         (a.dtype.kind in "iu" and want.kind in "iu")):
                    a = a.astype(want)
                else:
                    raise KilnTypeError("set_input_sequence('%s'): item %d is %s; the sequence "
                                        "holds %s" % (name, i, a.dtype, want.name))
            arrays.append(np.ascontiguousarray(a))
        n = len(arrays)
        shapes = (Dims * max(n, 1))()
        data = (ctypes.c_void_p * max(n, 1))()
        for i, a in enumerate(arrays):
            shapes[i] = to_dims(a.shape, "shape of item %d of '%s'" % (i, name))
            data[i] = a.ctypes.data if a.size else None
        check(C.context_set_input_sequence(self._ptr, cstr(name), n, shapes, data))
        self._values[name] = arrays
        return True

    def set_input_none(self, name):
        """Leaves an optional input (kind OPTIONAL or OPTIONAL_SEQUENCE) empty."""
        name = _tensor_name(name)
        check(C.context_set_input_none(self._ptr, cstr(name)))
        self._values.pop(name, None)
        return True

    def set_input_strings(self, name, values):
        """Binds a string input: an array-like of str (UTF-8 encoded) or bytes; its shape
        is the input's shape. The strings are copied."""
        name = _tensor_name(name)
        a = np.asarray(values, dtype=object)
        flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in a.reshape(-1)]
        if any(b"\0" in v for v in flat):
            raise KilnArgumentError("set_input_strings('%s'): strings with NUL bytes cannot be "
                                    "bound" % name)
        arr = (ctypes.c_char_p * max(len(flat), 1))(*flat)
        check(C.context_set_input_strings(self._ptr, cstr(name),
                                          to_dims(a.shape, "shape of '%s'" % name), arr))
        return True

    def get_output_kind(self, name):
        """After a run: ``kiln.ValueKind.TENSOR``, ``SEQUENCE`` or ``NONE`` (empty optional)."""
        kind = ctypes.c_int32()
        check(C.context_get_output_kind(self._ptr, cstr(_tensor_name(name)), ctypes.byref(kind)))
        return ValueKind(kind.value)

    # ---- runs
    def execute_async_v3(self, stream_handle=0):
        """Runs on ``stream_handle`` (a cudaStream_t as an int for CUDA engines; ignored on
        the CPU, where the run has finished on return). Returns True."""
        stream, _keep = _address(stream_handle, "stream_handle")
        check(C.context_enqueue(self._ptr, stream or None))
        self._report()
        return True

    enqueue = execute_async_v3

    def execute_v2(self, bindings):
        """Binds ``bindings`` (one address or array per I/O tensor, in the engine's order:
        ``engine.get_tensor_name(i)``) and runs synchronously. Returns True."""
        bindings = list(bindings)
        n = self._e.num_io_tensors
        if len(bindings) != n:
            raise KilnArgumentError("execute_v2: %d bindings given; the engine has %d I/O "
                                    "tensors (%s)" % (len(bindings), n,
                                                      ", ".join(self._e.io_tensor_names)))
        for i, b in enumerate(bindings):
            self.set_tensor_address(self._e.get_tensor_name(i), b)
        return self.execute()

    def execute(self):
        """Runs synchronously with the buffers bound by set_tensor_address. Returns True."""
        check(C.context_execute(self._ptr))
        self._report()
        return True

    def _copy_out(self, shape, dtype, address):
        np_dtype = dtype.numpy
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        result = np.empty(shape, dtype=np_dtype)
        if count and address:
            raw = (ctypes.c_char * (count * np_dtype.itemsize)).from_address(address)
            result[...] = np.frombuffer(raw, dtype=np_dtype, count=count).reshape(shape)
        return result

    def _get_strings(self, name, shape):
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        values = []
        for i in range(count):
            s, n = ctypes.c_void_p(), ctypes.c_size_t()
            check(C.context_get_output_string(self._ptr, cstr(name), i, ctypes.byref(s),
                                              ctypes.byref(n)))
            raw = ctypes.string_at(s.value, n.value) if n.value else b""
            try:
                values.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(raw)
        result = np.empty(count, dtype=object)
        result[:] = values
        return result.reshape(shape)

    def get_output(self, name):
        """A copy of an output after a run: a numpy array (for outputs not bound, or with
        shapes that depend on the data); for a string output an array of str (object
        dtype); for a sequence a list of arrays; for an empty optional None."""
        name = _tensor_name(name)
        if self._e.device != DeviceType.CUDA:
            kind = self.get_output_kind(name)
            if kind == ValueKind.NONE:
                return None
            if kind == ValueKind.SEQUENCE:
                dtype = self._e.get_tensor_dtype(name)
                count = ctypes.c_int32()
                check(C.context_get_output_sequence_count(self._ptr, cstr(name),
                                                          ctypes.byref(count)))
                items = []
                for i in range(count.value):
                    d, data = Dims(), ctypes.c_void_p()
                    check(C.context_get_output_sequence_item(self._ptr, cstr(name), i,
                                                             ctypes.byref(d), ctypes.byref(data)))
                    items.append(self._copy_out(dims_to_tuple(d), dtype, data.value))
                return items
            if self._e.get_tensor_dtype(name) == DataType.STRING:
                return self._get_strings(name, self.get_tensor_shape(name))
        shape = self.get_tensor_shape(name)
        dtype = self._e.get_tensor_dtype(name)
        data = ctypes.c_void_p()
        check(C.context_get_tensor_data(self._ptr, cstr(name), ctypes.byref(data)))
        np_dtype = dtype.numpy
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        result = np.empty(shape, dtype=np_dtype)
        if count == 0 or not data.value:
            return result
        if self._e.device == DeviceType.CUDA:  # the context holds it on the GPU
            from . import cuda
            cuda.memcpy_dtoh(result, data.value)
            return result
        raw = (ctypes.c_char * (count * np_dtype.itemsize)).from_address(data.value)
        result[...] = np.frombuffer(raw, dtype=np_dtype, count=count).reshape(shape)
        return result

    def infer(self, inputs=None, **kwargs):
        """kiln's one-call run: ``{input name: array}`` in, ``{output name: array}`` out.
        Sets input shapes, checks dtypes, makes arrays contiguous, binds, runs and copies
        the outputs (to and from the GPU for CUDA engines, through kiln.cuda). The
        context's earlier bindings are restored."""
        feeds = dict(inputs or {})
        feeds.update(kwargs)
        engine = self._e
        names = engine.io_tensor_names
        modes = {n: engine.get_tensor_mode(n) for n in names}
        in_names = [n for n in names if modes[n] == TensorIOMode.INPUT]
        out_names = [n for n in names if modes[n] == TensorIOMode.OUTPUT]
        unknown = [n for n in feeds if n not in in_names]
        if unknown:
            raise KilnArgumentError(
                "infer: the engine has no input named %s (its inputs: %s)"
                % (", ".join("'%s'" % n for n in unknown), ", ".join("'%s'" % n for n in in_names)))
        missing = [n for n in in_names if n not in feeds]
        if missing:
            raise KilnArgumentError("infer: no value for input %s (its inputs: %s)"
                                    % (", ".join("'%s'" % n for n in missing),
                                       ", ".join("'%s'" % n for n in in_names)))
        arrays, others = {}, {}
        for n in in_names:
            kind = engine.get_tensor_kind(n)
            value = feeds[n]
            if kind != ValueKind.TENSOR and engine.device == DeviceType.CUDA:
                raise KilnTypeError("infer: input '%s' is a %s: CUDA engines take tensors only; "
                                    "build the engine for the CPU" % (n, kind.name.lower()))
            if value is None and kind in (ValueKind.OPTIONAL, ValueKind.OPTIONAL_SEQUENCE):
                others[n] = ("none", None)
            elif kind == ValueKind.SEQUENCE or (kind == ValueKind.OPTIONAL_SEQUENCE and
                                                isinstance(value, (list, tuple))):
                if not isinstance(value, (list, tuple)):
                    raise KilnTypeError("infer: input '%s' is a sequence: give a list of arrays"
                                        % n)
                others[n] = ("sequence", value)
            elif value is None:
                raise KilnArgumentError("infer: input '%s' is not optional: None is not a value "
                                        "for it" % n)
            elif engine.get_tensor_dtype(n) == DataType.STRING:
                others[n] = ("strings", value)
            else:
                arrays[n] = self._check_input(n, value)
        saved = dict(self._bound)
        try:
            for n, (how, value) in others.items():
                if how == "none":
                    self.set_input_none(n)
                elif how == "sequence":
                    self.set_input_sequence(n, value)
                else:
                    self.set_input_strings(n, value)
            for n, a in arrays.items():
                self.set_input_shape(n, a.shape)
                if engine.device == DeviceType.CUDA:  # copy the input to the GPU
                    from . import cuda
                    d = cuda.mem_alloc(max(a.nbytes, 1))
                    cuda.memcpy_htod(d, a)
                    a = d
                self.set_tensor_address(n, a)
            for n in out_names:
                self.set_tensor_address(n, None)
            self.execute()
            return {n: self.get_output(n) for n in out_names}
        finally:
            for n in in_names + out_names:
                ptr, keep = saved.get(n, (0, None))
                if C.context_set_tensor_address(self._ptr, n.encode(), ptr or None) == 0:
                    if n in saved:
                        self._bound[n] = saved[n]
                    else:
                        self._bound.pop(n, None)

    def _check_input(self, name, value):
        expected = self._e.get_tensor_dtype(name)
        try:
            want = expected.numpy
        except TypeError:
            raise KilnTypeError("infer: input '%s' is %s, which numpy cannot hold; bind it with "
                                "set_tensor_address" % (name, expected.kiln_name)) from None
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
            if value.dtype.kind == want.kind or (value.dtype.kind in "iu" and want.kind in "iu"):
                value = value.astype(want)  # Python numbers and lists: take the input's type
        if value.dtype != want:
            raise KilnTypeError(
                "infer: input '%s' expects %s, but the array given is %s: convert it with "
                "array.astype(numpy.%s)" % (name, want.name, value.dtype, want.name))
        built = self._e.get_tensor_shape(name)
        if built is not None:
            wrong = len(built) != value.ndim or any(
                b >= 0 and b != g for b, g in zip(built, value.shape))
            if wrong:
                raise KilnShapeError(
                    "infer: input '%s' expects shape %s (-1: any size), but the array given "
                    "has shape %s" % (name, _fmt(built), _fmt(value.shape)))
        return np.ascontiguousarray(value).reshape(value.shape)  # keeps 0-d arrays 0-d

    # ---- profiling
    def set_profiling(self, enabled=True):
        """Per-layer timing of later runs (costs a clock read per layer)."""
        check(C.context_set_profiling(self._ptr, 1 if enabled else 0))
        self._profiling = bool(enabled)

    @property
    def profiling(self):
        return self._profiling

    @property
    def profiler(self):
        """An IProfiler whose report_layer_time(layer_name, ms) is called for every layer
        after each run (setting one turns profiling on)."""
        return self._profiler

    @profiler.setter
    def profiler(self, profiler):
        if profiler is not None and not callable(getattr(profiler, "report_layer_time", None)):
            raise KilnTypeError("a profiler needs a report_layer_time(layer_name, ms) method")
        self._profiler = profiler
        self.set_profiling(profiler is not None)

    def get_layer_time(self, index):
        """Seconds layer ``index`` (engine layer order) took in the last profiled run."""
        seconds = ctypes.c_double()
        check(C.context_get_layer_time(self._ptr, int(index), ctypes.byref(seconds)))
        return seconds.value

    def get_layer_times(self):
        """``[(layer name, seconds), ...]`` of the last profiled run, in engine order."""
        engine = self._e
        return [(engine.get_layer_name(i), self.get_layer_time(i))
                for i in range(engine.num_layers)]

    def _report(self):
        if self._profiler is not None:
            for name, seconds in self.get_layer_times():
                self._profiler.report_layer_time(name, seconds * 1e3)

    def __repr__(self):
        return "<kiln.IExecutionContext of %r>" % self._e


ExecutionContext = IExecutionContext


def _fmt(shape):
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------------------- inspector


class EngineInspector:
    """Layer information, as TensorRT's ``IEngineInspector``. Set ``execution_context`` to
    include the last profiled run's times."""

    def __init__(self, engine):
        self.engine = engine
        self.execution_context = None

    def _layer(self, index):
        e = self.engine
        info = {"Name": e.get_layer_name(index), "LayerType": e.get_layer_op(index),
                "Kernel": e.get_layer_kernel(index)}
        ctx = self.execution_context
        if ctx is not None and ctx.profiling:
            try:
                info["TimeMs"] = ctx.get_layer_time(index) * 1e3
            except KilnError:
                pass
        return info

    def get_layer_information(self, layer_index, format=LayerInformationFormat.ONELINE):
        format = to_enum(LayerInformationFormat, format, "format")
        info = self._layer(layer_index)
        if format == LayerInformationFormat.JSON:
            return json.dumps(info)
        text_ = "%s: %s [%s]" % (info["Name"], info["LayerType"], info["Kernel"])
        if "TimeMs" in info:
            text_ += " %.3f ms" % info["TimeMs"]
        return text_

    def get_engine_information(self, format=LayerInformationFormat.ONELINE):
        format = to_enum(LayerInformationFormat, format, "format")
        e = self.engine
        layers = [self._layer(i) for i in range(e.num_layers)]
        bindings = []
        for name in e.io_tensor_names:
            bindings.append({"Name": name, "Mode": e.get_tensor_mode(name).name,
                             "DataType": e.get_tensor_dtype(name).kiln_name,
                             "Shape": list(e.get_tensor_shape(name) or ())})
        if format == LayerInformationFormat.JSON:
            return json.dumps({"Device": e.device.name, "Layers": layers, "Bindings": bindings,
                               "PlannedArenaBytes": e.planned_arena_bytes,
                               "NaiveActivationBytes": e.naive_activation_bytes,
                               "WeightBytes": e.weight_bytes})
        lines = ["%s: %s [%s]" % (l["Name"], l["LayerType"], l["Kernel"]) for l in layers]
        return "\n".join(lines)
