"""Loads libkiln and declares the C API of include/kiln/kiln.h for ctypes.

Only the public C API is used. The library is looked for, in order:

1. ``$KILN_LIBRARY`` (the library file, or a folder holding it);
2. next to the installed package: the package folder, then each folder above it and its
   ``lib``/``lib64`` (``<prefix>/lib/python3/dist-packages/kiln`` finds ``<prefix>/lib``);
3. the build tree of the checkout the package sits in: ``<repo>/build/src``;
4. the system's library search path (``ctypes.util.find_library("kiln")``).
"""

import ctypes
import ctypes.util
import os
import sys

from ._errors import STATUS_ERRORS, KilnError, KilnNotImplementedError

__all__ = ["lib", "library_path", "check", "Dims", "Weights_", "Window", "LOG_CALLBACK"]

MAX_DIMS = 8

_NAMES = {
    "darwin": ("libkiln.dylib", "libkiln.0.dylib"),
    "win32": ("kiln.dll", "libkiln.dll"),
}.get(sys.platform, ("libkiln.so", "libkiln.so.0"))


def _candidates():
    env = os.environ.get("KILN_LIBRARY")
    if env:
        if os.path.isdir(env):
            for name in _NAMES:
                yield os.path.join(env, name)
        else:
            yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    # Installed: the package folder itself, then each folder above it, and its lib dirs.
    folder = here
    for _ in range(5):
        for sub in ("", "lib", "lib64"):
            for name in _NAMES:
                yield os.path.join(folder, sub, name)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    # A checkout: <repo>/python/kiln -> <repo>/build/src.
    repo = os.path.dirname(os.path.dirname(here))
    for name in _NAMES:
        yield os.path.join(repo, "build", "src", name)


def _load():
    # OpenMP's idle threads spin before sleeping; GNU OpenMP's default spin (milliseconds)
    # has them burn cores between layers, which on a busy machine takes the CPU the next
    # layer needs. libgomp reads the setting once, when it is loaded (with libkiln, just
    # below), so a short spin is asked for here unless the user chose a policy.
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "3000")
    tried = []
    env = os.environ.get("KILN_LIBRARY")
    for path in _candidates():
        if not os.path.isfile(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            if env:
                raise ImportError(
                    "kiln: KILN_LIBRARY=%s could not be loaded: %s" % (env, exc)) from exc
            tried.append("%s (%s)" % (path, exc))
    if not env:
        found = ctypes.util.find_library("kiln")
        for path in ([found] if found else []) + list(_NAMES):
            try:
                return ctypes.CDLL(path), path
            except OSError:
                tried.append(path)
    folders = []
    for path in tried:
        folder = os.path.dirname(path.split(" (")[0])
        if folder and folder not in folders:
            folders.append(folder)
    raise ImportError(
        "kiln: cannot find the kiln shared library (%s). Build it "
        "(cmake -S . -B build && cmake --build build) or set KILN_LIBRARY to its path. "
        "Looked in: %s, and the system's library path" % (_NAMES[0], ", ".join(folders)))


lib, library_path = _load()

# ---------------------------------------------------------------------------- structs


class Dims(ctypes.Structure):
    """kiln_dims"""

    _fields_ = [("nb_dims", ctypes.c_int32), ("d", ctypes.c_int64 * MAX_DIMS)]


class Weights_(ctypes.Structure):
    """kiln_weights"""

    _fields_ = [("dtype", ctypes.c_int), ("values", ctypes.c_void_p), ("count", ctypes.c_int64)]


class Window(ctypes.Structure):
    """kiln_window"""

    _fields_ = [
        ("nb_spatial", ctypes.c_int32),
        ("kernel", ctypes.c_int64 * 3),
        ("stride", ctypes.c_int64 * 3),
        ("pad_begin", ctypes.c_int64 * 3),
        ("pad_end", ctypes.c_int64 * 3),
        ("dilation", ctypes.c_int64 * 3),
    ]


LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)

# ---------------------------------------------------------------------------- prototypes

_st = ctypes.c_int  # kiln_status
_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_str = ctypes.c_char_p
_i32 = ctypes.c_int32
_u32 = ctypes.c_uint32
_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64
_int = ctypes.c_int
_size = ctypes.c_size_t
_dims_p = ctypes.POINTER(Dims)
_i32_p = ctypes.POINTER(ctypes.c_int32)

_PROTOTYPES = {
    # versions, status
    "kiln_get_version": (_i32, []),
    "kiln_version_string": (_str, []),
    "kiln_status_string": (_str, [_int]),
    "kiln_last_error": (_str, []),
    "kiln_clear_error": (None, []),
    # logger
    "kiln_logger_create": (_st, [LOG_CALLBACK, _p, _int, _pp]),
    "kiln_logger_destroy": (None, [_p]),
    "kiln_logger_set_min_severity": (_st, [_p, _int]),
    "kiln_logger_log": (None, [_p, _int, _str]),
    # data types
    "kiln_dtype_name": (_str, [_int]),
    "kiln_dtype_bits": (_i32, [_int]),
    # host memory
    "kiln_host_memory_data": (_p, [_p]),
    "kiln_host_memory_size": (_size, [_p]),
    "kiln_host_memory_destroy": (None, [_p]),
    # builder
    "kiln_builder_create": (_st, [_p, _pp]),
    "kiln_builder_destroy": (None, [_p]),
    "kiln_builder_create_network": (_st, [_p, _u32, _pp]),
    "kiln_builder_create_config": (_st, [_p, _pp]),
    "kiln_builder_create_optimization_profile": (_st, [_p, _pp]),
    "kiln_builder_build_serialized_network": (_st, [_p, _p, _p, _pp]),
    "kiln_builder_build_engine": (_st, [_p, _p, _p, _pp]),
    # builder config
    "kiln_builder_config_destroy": (None, [_p]),
    "kiln_builder_config_set_flag": (_st, [_p, _int, _int]),
    "kiln_builder_config_get_flag": (_int, [_p, _int]),
    "kiln_builder_config_set_memory_pool_limit": (_st, [_p, _int, _size]),
    "kiln_builder_config_set_max_batch_size": (_st, [_p, _i32]),
    "kiln_builder_config_set_device": (_st, [_p, _int, _i32]),
    "kiln_builder_config_set_num_threads": (_st, [_p, _i32]),
    "kiln_builder_config_add_optimization_profile": (_st, [_p, _p]),
    # profiles
    "kiln_optimization_profile_destroy": (None, [_p]),
    "kiln_optimization_profile_set_dimensions": (_st, [_p, _str, _int, Dims]),
    "kiln_optimization_profile_get_dimensions": (_st, [_p, _str, _int, _dims_p]),
    # network
    "kiln_network_destroy": (None, [_p]),
    "kiln_network_num_inputs": (_i32, [_p]),
    "kiln_network_num_outputs": (_i32, [_p]),
    "kiln_network_num_layers": (_i32, [_p]),
    "kiln_network_get_input": (_p, [_p, _i32]),
    "kiln_network_get_output": (_p, [_p, _i32]),
    "kiln_network_get_layer": (_p, [_p, _i32]),
    "kiln_tensor_get_name": (_str, [_p]),
    "kiln_tensor_set_name": (_st, [_p, _str]),
    "kiln_tensor_get_dtype": (_int, [_p]),
    "kiln_tensor_get_dims": (Dims, [_p]),
    "kiln_layer_get_name": (_str, [_p]),
    "kiln_layer_set_name": (_st, [_p, _str]),
    "kiln_layer_get_output": (_p, [_p, _i32]),
    "kiln_layer_set_precision": (_st, [_p, _int]),
    # layer API
    "kiln_network_add_input": (_st, [_p, _str, _int, Dims, _pp]),
    "kiln_network_mark_output": (_st, [_p, _p]),
    "kiln_network_add_convolution": (_st, [_p, _p, _i64, Window, _i64, Weights_, Weights_, _pp]),
    "kiln_network_add_deconvolution": (_st, [_p, _p, _i64, Window, _i64, Weights_, Weights_, _pp]),
    "kiln_network_add_matrix_multiply": (_st, [_p, _p, _int, _p, _int, _pp]),
    "kiln_network_add_fully_connected": (_st, [_p, _p, _i64, Weights_, Weights_, _pp]),
    "kiln_network_add_activation": (_st, [_p, _p, _int, ctypes.c_float, ctypes.c_float, _pp]),
    "kiln_network_add_pooling": (_st, [_p, _p, _int, Window, _pp]),
    "kiln_network_add_elementwise": (_st, [_p, _p, _p, _int, _pp]),
    "kiln_network_add_unary": (_st, [_p, _p, _int, _pp]),
    "kiln_network_add_softmax": (_st, [_p, _p, _i32, _pp]),
    "kiln_network_add_concatenation": (_st, [_p, _pp, _i32, _i32, _pp]),
    "kiln_network_add_shuffle": (_st, [_p, _p, _i32_p, _dims_p, _i32_p, _pp]),
    "kiln_network_add_slice": (_st, [_p, _p, Dims, Dims, Dims, _pp]),
    "kiln_network_add_gather": (_st, [_p, _p, _p, _i32, _pp]),
    "kiln_network_add_reduce": (_st, [_p, _p, _int, _u32, _int, _pp]),
    "kiln_network_add_constant": (_st, [_p, Dims, Weights_, _pp]),
    "kiln_network_add_normalization": (_st, [_p, _p, _p, _p, _u32, ctypes.c_float, _pp]),
    "kiln_network_add_resize": (_st, [_p, _p, _int, Dims, _pp]),
    "kiln_network_add_identity": (_st, [_p, _p, _pp]),
    "kiln_network_add_cast": (_st, [_p, _p, _int, _pp]),
    # ONNX parser
    "kiln_onnx_parser_create": (_st, [_p, _p, _pp]),
    "kiln_onnx_parser_destroy": (None, [_p]),
    "kiln_onnx_parser_parse": (_st, [_p, _p, _size, _str]),
    "kiln_onnx_parser_parse_from_file": (_st, [_p, _str]),
    "kiln_onnx_parser_num_errors": (_i32, [_p]),
    "kiln_onnx_parser_get_error": (_str, [_p, _i32]),
    "kiln_onnx_parser_get_error_node": (_str, [_p, _i32]),
    "kiln_onnx_parser_get_error_op": (_str, [_p, _i32]),
    # runtime
    "kiln_runtime_create": (_st, [_p, _pp]),
    "kiln_runtime_destroy": (None, [_p]),
    "kiln_runtime_deserialize_engine": (_st, [_p, _p, _size, _pp]),
    "kiln_runtime_deserialize_engine_from_file": (_st, [_p, _str, _pp]),
    # engine
    "kiln_engine_destroy": (None, [_p]),
    "kiln_engine_serialize": (_st, [_p, _pp]),
    "kiln_engine_serialize_to_file": (_st, [_p, _str]),
    "kiln_engine_num_io_tensors": (_i32, [_p]),
    "kiln_engine_get_tensor_name": (_str, [_p, _i32]),
    "kiln_engine_get_tensor_mode": (_int, [_p, _str]),
    "kiln_engine_get_tensor_dtype": (_int, [_p, _str]),
    "kiln_engine_get_tensor_kind": (_int, [_p, _str]),
    "kiln_engine_get_tensor_shape": (_st, [_p, _str, _dims_p]),
    "kiln_engine_get_profile_shape": (_st, [_p, _str, _i32, _int, _dims_p]),
    "kiln_engine_num_layers": (_i32, [_p]),
    "kiln_engine_get_device": (_int, [_p]),
    "kiln_engine_create_execution_context": (_st, [_p, _pp]),
    "kiln_engine_get_layer_name": (_str, [_p, _i32]),
    "kiln_engine_get_layer_op": (_str, [_p, _i32]),
    "kiln_engine_get_layer_kernel": (_str, [_p, _i32]),
    "kiln_engine_get_planned_arena_bytes": (_u64, [_p]),
    "kiln_engine_get_naive_activation_bytes": (_u64, [_p]),
    "kiln_engine_get_weight_bytes": (_u64, [_p]),
    # context
    "kiln_context_destroy": (None, [_p]),
    "kiln_context_set_input_shape": (_st, [_p, _str, Dims]),
    "kiln_context_get_tensor_shape": (_st, [_p, _str, _dims_p]),
    "kiln_context_set_tensor_address": (_st, [_p, _str, _p]),
    "kiln_context_enqueue": (_st, [_p, _p]),
    "kiln_context_execute": (_st, [_p]),
    "kiln_context_get_tensor_data": (_st, [_p, _str, _pp]),
    "kiln_context_set_profiling": (_st, [_p, _int]),
    "kiln_context_get_layer_time": (_st, [_p, _i32, ctypes.POINTER(ctypes.c_double)]),
    # values other than numeric tensors: sequences, empty optionals, strings
    "kiln_context_set_input_sequence": (_st, [_p, _str, _i32, _dims_p, _pp]),
    "kiln_context_set_input_none": (_st, [_p, _str]),
    "kiln_context_set_input_strings": (_st, [_p, _str, Dims, ctypes.POINTER(ctypes.c_char_p)]),
    "kiln_context_get_output_kind": (_st, [_p, _str, ctypes.POINTER(_i32)]),
    "kiln_context_get_output_sequence_count": (_st, [_p, _str, ctypes.POINTER(_i32)]),
    "kiln_context_get_output_sequence_item": (_st, [_p, _str, _i32, _dims_p, _pp]),
    "kiln_context_get_output_string": (_st, [_p, _str, _i64, _pp, ctypes.POINTER(_size)]),
}

# Calls kiln.h declares but the loaded library lacks (an older build): they raise
# KilnNotImplementedError naming the call instead of failing at import.
missing_symbols = []


def _missing(name, restype):
    def call(*args):
        if restype is _st:
            raise KilnNotImplementedError(
                "%s: the loaded kiln library (%s) does not export this call; rebuild it"
                % (name, library_path), "KILN_ERR_NOT_IMPLEMENTED")
        raise KilnNotImplementedError("%s is missing from %s" % (name, library_path),
                                      "KILN_ERR_NOT_IMPLEMENTED")
    call.__name__ = name
    return call


class _Api:
    """The C functions as attributes, without the kiln_ prefix: ``C.builder_create``."""


C = _Api()
for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        missing_symbols.append(_name)
        _fn = _missing(_name, _restype)
    else:
        _fn.restype = _restype
        _fn.argtypes = _argtypes
    setattr(C, _name[len("kiln_"):], _fn)


def has_symbol(name):
    """Whether the loaded library exports ``name`` (used to probe optional parts)."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False


# ---------------------------------------------------------------------------- helpers


def text(value):
    """A C string (bytes or None) as str."""
    if value is None:
        return None
    return value.decode("utf-8", "replace")


def cstr(value, what="name"):
    """A Python str (or os.PathLike) as a C string."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
        if isinstance(value, bytes):
            return value
    if not isinstance(value, str):
        from ._errors import KilnTypeError
        raise KilnTypeError("%s must be a str, not %s" % (what, type(value).__name__))
    return value.encode("utf-8")


def last_error():
    return text(C.last_error()) or ""


def error_for(status, message=None, hint=None):
    """The exception for a failed call with status ``status``."""
    if message is None:
        message = last_error()
    name = text(C.status_string(status))
    if not message:
        message = name
    if hint:
        message = message.rstrip() + (" " if message.rstrip().endswith(".") else ". ") + hint
    cls = STATUS_ERRORS.get(status, KilnError)
    return cls(message, name)


def check(status, hint=None):
    """Raises the KilnError of a failed call (status != KILN_OK)."""
    if status != 0:
        raise error_for(status, hint=hint)


def dims_to_tuple(dims):
    if dims.nb_dims < 0:
        return None
    return tuple(int(dims.d[i]) for i in range(dims.nb_dims))


def to_dims(shape, what="shape"):
    """A Python shape (any iterable of ints) as kiln_dims."""
    from ._errors import KilnArgumentError, KilnTypeError
    if isinstance(shape, Dims):
        return shape
    if isinstance(shape, (str, bytes)):
        raise KilnTypeError("%s must be a sequence of ints, not %s" % (what, type(shape).__name__))
    try:
        values = [int(d) for d in shape]
    except TypeError:
        try:  # a single int
            values = [int(shape)]
        except (TypeError, ValueError):
            raise KilnTypeError("%s must be a sequence of ints, not %r" % (what, shape)) from None
    if len(values) > MAX_DIMS:
        raise KilnArgumentError("%s %s has %d dimensions; kiln allows at most %d"
                                % (what, tuple(values), len(values), MAX_DIMS))
    d = Dims()
    d.nb_dims = len(values)
    for i, v in enumerate(values):
        d.d[i] = v
    return d


def out_ptr():
    return ctypes.c_void_p()
