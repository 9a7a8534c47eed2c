"""GPU memory, streams and events for kiln's CUDA engines (include/kiln/kiln_cuda.h), in
PyCUDA's spelling, so that no other CUDA wrapper is needed::

    stream = kiln.cuda.Stream()
    h_in = kiln.cuda.pagelocked_empty((8, 1, 8, 8), numpy.float32)
    d_in = kiln.cuda.mem_alloc(h_in.nbytes)
    kiln.cuda.memcpy_htod_async(d_in, h_in, stream)
    context.set_tensor_address("image", int(d_in))
    context.execute_async_v3(stream.handle)
    stream.synchronize()

Where the library has no CUDA backend (or sees no GPU) every call raises a KilnError
that starts "CUDA is not available"; ``kiln.cuda.is_available()`` says which.
"""

import ctypes

import numpy as np

from ._errors import KilnDeviceError, KilnTypeError, KilnUnsupportedError
from ._handle import Handle
from ._lib import check, has_symbol, last_error, lib

__all__ = ["is_available", "device_count", "device_name", "set_device", "pagelocked_empty",
           "mem_alloc", "DeviceAllocation", "Stream", "Event", "memcpy_htod_async",
           "memcpy_dtoh_async", "memcpy_dtod_async", "memcpy_htod", "memcpy_dtoh", "memset"]

NOT_AVAILABLE = "CUDA is not available in this kiln build"

_p, _pp, _st, _size = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_size_t
_PROTOTYPES = {
    "is_available": (ctypes.c_int, []),
    "device_count": (_st, [ctypes.POINTER(ctypes.c_int32)]),
    "device_name": (_st, [ctypes.c_int32, ctypes.c_char_p, _size]),
    "set_device": (_st, [ctypes.c_int32]),
    "malloc": (_st, [_size, _pp]),
    "free": (_st, [_p]),
    "malloc_host": (_st, [_size, _pp]),
    "free_host": (_st, [_p]),
    "stream_create": (_st, [_pp]),
    "stream_destroy": (_st, [_p]),
    "stream_synchronize": (_st, [_p]),
    "event_create": (_st, [_pp]),
    "event_destroy": (_st, [_p]),
    "event_record": (_st, [_p, _p]),
    "event_synchronize": (_st, [_p]),
    "event_elapsed_ms": (_st, [_p, _p, ctypes.POINTER(ctypes.c_float)]),
    "memcpy_htod_async": (_st, [_p, _p, _size, _p]),
    "memcpy_dtoh_async": (_st, [_p, _p, _size, _p]),
    "memcpy_dtod_async": (_st, [_p, _p, _size, _p]),
    "memcpy_htod": (_st, [_p, _p, _size]),
    "memcpy_dtoh": (_st, [_p, _p, _size]),
    "memset": (_st, [_p, ctypes.c_int, _size]),
}

_fns = None


def _symbols():
    """The kiln_cuda_* functions, or None when the library has none."""
    global _fns
    if _fns is None:
        if not all(has_symbol("kiln_cuda_" + n) for n in _PROTOTYPES):
            _fns = False
        else:
            fns = {}
            for name, (restype, argtypes) in _PROTOTYPES.items():
                fn = getattr(lib, "kiln_cuda_" + name)
                fn.restype, fn.argtypes = restype, argtypes
                fns[name] = fn
            _fns = fns
    return _fns or None


def is_available():
    """Whether this kiln has the CUDA backend and sees a GPU (kiln_cuda_is_available)."""
    fns = _symbols()
    return bool(fns and fns["is_available"]())


def _api():
    """The functions, or a KilnError saying why CUDA cannot be used."""
    fns = _symbols()
    if fns is None:
        raise KilnUnsupportedError(NOT_AVAILABLE + ": the library (kiln_cuda.h) has no "
                                   "kiln_cuda_* calls; build engines for the CPU",
                                   "KILN_ERR_UNSUPPORTED")
    if not fns["is_available"]():
        # A build without the backend says so through any call that needs it.
        out = ctypes.c_void_p()
        status = fns["malloc"](1, ctypes.byref(out))
        if status == 0:
            fns["free"](out)
        elif status == 5:  # KILN_ERR_UNSUPPORTED: no CUDA backend
            raise KilnUnsupportedError("%s: %s" % (NOT_AVAILABLE, last_error()),
                                       "KILN_ERR_UNSUPPORTED")
        raise KilnDeviceError("CUDA is not available: this kiln has the CUDA backend but sees "
                              "no usable GPU (no device, or the driver is missing or too old)"
                              + (": " + last_error() if status else ""), "KILN_ERR_DEVICE")
    return fns


def device_count():
    """GPUs kiln can use (0 without the CUDA backend or a driver)."""
    fns = _symbols()
    if fns is None:
        return 0
    n = ctypes.c_int32()
    check(fns["device_count"](ctypes.byref(n)))
    return n.value


def device_name(device=0):
    """"NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" """
    buf = ctypes.create_string_buffer(256)
    check(_api()["device_name"](int(device), buf, len(buf)))
    return buf.value.decode("utf-8", "replace")


def set_device(device):
    """Makes ``device`` current for the calling thread."""
    check(_api()["set_device"](int(device)))


def _ptr_of(obj):
    if obj is None:
        return None
    if isinstance(obj, np.ndarray):
        return obj.ctypes.data
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        return int(cai["data"][0]) or None
    return int(obj) or None


class DeviceAllocation:
    """GPU memory from mem_alloc; ``int(alloc)`` is its address. Freed on deletion."""

    def __init__(self, nbytes):
        api = _api()
        out = ctypes.c_void_p()
        check(api["malloc"](int(nbytes), ctypes.byref(out)))
        self._h = Handle(out.value, api["free"], "device allocation")
        self.nbytes = int(nbytes)

    @property
    def ptr(self):
        return self._h.ptr or 0

    def __int__(self):
        return self.ptr

    __index__ = __int__

    def free(self):
        self._h.release()

    def __repr__(self):
        return "<kiln.cuda.DeviceAllocation %d bytes at %#x>" % (self.nbytes, self.ptr)


def mem_alloc(nbytes):
    """``nbytes`` of GPU memory."""
    return DeviceAllocation(nbytes)


def pagelocked_empty(shape, dtype=np.float32):
    """A numpy array in page-locked (pinned) host memory, for fast async copies. The
    memory is freed with the array."""
    api = _api()
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if hasattr(shape, "__len__") else (shape,)))
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = max(count * dtype.itemsize, 1)
    out = ctypes.c_void_p()
    check(api["malloc_host"](nbytes, ctypes.byref(out)))
    raw = (ctypes.c_char * nbytes).from_address(out.value)
    raw._h = Handle(out.value, api["free_host"], "page-locked memory")
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


class Stream:
    """A CUDA stream; ``stream.handle`` (or ``int(stream)``) goes to execute_async_v3."""

    def __init__(self):
        api = _api()
        out = ctypes.c_void_p()
        check(api["stream_create"](ctypes.byref(out)))
        self._h = Handle(out.value, api["stream_destroy"], "stream")

    @property
    def handle(self):
        return self._h.ptr or 0

    ptr = handle

    def __int__(self):
        return self.handle

    __index__ = __int__

    def synchronize(self):
        check(_api()["stream_synchronize"](self._h.ptr))


class Event:
    """A CUDA event, for timing: ``end.time_since(start)`` in milliseconds."""

    def __init__(self):
        api = _api()
        out = ctypes.c_void_p()
        check(api["event_create"](ctypes.byref(out)))
        self._h = Handle(out.value, api["event_destroy"], "event")

    def record(self, stream=None):
        check(_api()["event_record"](self._h.ptr, _ptr_of(stream)))
        return self

    def synchronize(self):
        check(_api()["event_synchronize"](self._h.ptr))
        return self

    def time_since(self, start):
        ms = ctypes.c_float()
        check(_api()["event_elapsed_ms"](start._h.ptr, self._h.ptr, ctypes.byref(ms)))
        return ms.value

    def time_till(self, end):
        return end.time_since(self)


def _host(array, what):
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise KilnTypeError("%s must be a C-contiguous numpy array" % what)
    return array


def memcpy_htod_async(dest, src, stream=None):
    """Copies host array ``src`` into device memory ``dest`` on ``stream``."""
    api = _api()
    src = _host(src, "src")
    check(api["memcpy_htod_async"](_ptr_of(dest), src.ctypes.data, src.nbytes, _ptr_of(stream)))


def memcpy_dtoh_async(dest, src, stream=None):
    """Copies device memory ``src`` into host array ``dest`` on ``stream``."""
    api = _api()
    dest = _host(dest, "dest")
    check(api["memcpy_dtoh_async"](dest.ctypes.data, _ptr_of(src), dest.nbytes, _ptr_of(stream)))


def memcpy_dtod_async(dest, src, nbytes, stream=None):
    check(_api()["memcpy_dtod_async"](_ptr_of(dest), _ptr_of(src), int(nbytes), _ptr_of(stream)))


def memcpy_htod(dest, src):
    api = _api()
    src = _host(src, "src")
    check(api["memcpy_htod"](_ptr_of(dest), src.ctypes.data, src.nbytes))


def memcpy_dtoh(dest, src):
    api = _api()
    dest = _host(dest, "dest")
    check(api["memcpy_dtoh"](dest.ctypes.data, _ptr_of(src), dest.nbytes))


def memset(dest, value, nbytes):
    check(_api()["memset"](_ptr_of(dest), int(value), int(nbytes)))
