"""Loggers, as TensorRT's ``trt.ILogger`` and ``trt.Logger``.

``kiln.Logger(kiln.Logger.WARNING)`` prints messages at that severity or worse to
``sys.stderr`` as ``[kiln] W: message``. To handle messages yourself, subclass
``kiln.ILogger`` (or ``kiln.Logger``) and override ``log(severity, msg)``::

    class Collect(kiln.ILogger):
        def __init__(self):
            kiln.ILogger.__init__(self)      # receives every severity, as TensorRT's
            self.messages = []
        def log(self, severity, msg):
            self.messages.append((severity, msg))

kiln may call ``log`` from any thread that uses kiln (OpenMP workers included); an
exception raised in ``log`` is printed and otherwise ignored.
"""

import ctypes
import sys
import traceback

from ._enums import Severity, to_enum
from ._handle import Handle
from ._lib import C, LOG_CALLBACK, check, text

__all__ = ["ILogger", "Logger"]

_LETTERS = {0: "F", 1: "E", 2: "W", 3: "I", 4: "V"}


class ILogger:
    """The logger interface: override ``log(severity, msg)``."""

    Severity = Severity
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def __init__(self, min_severity=Severity.VERBOSE):
        self._min_severity = to_enum(Severity, min_severity, "min_severity")
        # The ctypes callback must live as long as the C logger: the handle holds it.
        callback = LOG_CALLBACK(self._dispatch)
        out = ctypes.c_void_p()
        check(C.logger_create(callback, None, int(self._min_severity), ctypes.byref(out)))
        h = Handle(out.value, C.logger_destroy, "logger")
        h._deps = (callback,)
        self._h = h

    def _dispatch(self, user_data, severity, message):
        try:
            try:
                sev = Severity(severity)
            except ValueError:
                sev = severity
            self.log(sev, text(message))
        except BaseException:  # never let an exception unwind into C
            try:
                sys.stderr.write("kiln: exception in %s.log:\n" % type(self).__name__)
                traceback.print_exc()
            except Exception:
                pass

    def log(self, severity, msg):
        raise NotImplementedError("a kiln.ILogger subclass must define log(severity, msg)")

    @property
    def min_severity(self):
        """Messages less severe than this are not delivered."""
        return self._min_severity

    @min_severity.setter
    def min_severity(self, severity):
        severity = to_enum(Severity, severity, "min_severity")
        check(C.logger_set_min_severity(_logger_handle(self).ptr, int(severity)))
        self._min_severity = severity

    def send(self, severity, msg):
        """Sends a message through the C logger (as kiln itself does)."""
        severity = to_enum(Severity, severity, "severity")
        C.logger_log(_logger_handle(self).ptr, int(severity), str(msg).encode("utf-8"))


class Logger(ILogger):
    """A logger that prints messages at ``min_severity`` or worse to ``sys.stderr``."""

    def __init__(self, min_severity=Severity.WARNING):
        ILogger.__init__(self, min_severity)

    def log(self, severity, msg):
        stream = sys.stderr
        if stream is not None:
            stream.write("[kiln] %s: %s\n" % (_LETTERS.get(int(severity), "?"), msg))


class _Adapter(ILogger):
    """Wraps any object with a log(severity, msg) method."""

    def __init__(self, target):
        self._target = target
        ILogger.__init__(self, getattr(target, "min_severity", Severity.VERBOSE))

    def log(self, severity, msg):
        self._target.log(severity, msg)


_adapters = {}


def _logger_handle(logger):
    """The C logger handle of a kiln.ILogger (created on first use when a subclass's
    __init__ did not call ILogger.__init__), or None for ``logger=None``."""
    if logger is None:
        return None
    if isinstance(logger, ILogger):
        if getattr(logger, "_h", None) is None:
            ILogger.__init__(logger, getattr(logger, "_min_severity", Severity.VERBOSE))
        return logger._h
    if callable(getattr(logger, "log", None)):
        adapter = getattr(logger, "_kiln_adapter", None) or _adapters.get(id(logger))
        if adapter is None:
            adapter = _Adapter(logger)
            try:
                logger._kiln_adapter = adapter
            except AttributeError:  # no __dict__: keep it here (and the object alive)
                _adapters[id(logger)] = adapter
        return adapter._h
    from ._errors import KilnTypeError
    raise KilnTypeError("logger must be a kiln.ILogger (kiln.Logger(kiln.Logger.WARNING)), not %s"
                        % type(logger).__name__)
