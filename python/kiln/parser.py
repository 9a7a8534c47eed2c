"""The ONNX parser, as TensorRT's ``trt.OnnxParser``."""

import ctypes
import os

import numpy as np

from ._errors import KilnTypeError
from ._handle import Handle, Wrapper
from ._lib import C, check, cstr, error_for, text
from .logger import _logger_handle

__all__ = ["OnnxParser", "ParserError"]

# Failures that are problems of the model (they are listed as parser errors, and parse
# returns False, as TensorRT's); other failures raise.
_MODEL_ERRORS = {3, 4, 5, 6, 7}  # IO, PARSE, UNSUPPORTED, NOT_IMPLEMENTED, SHAPE


class ParserError:
    """One problem of the last parse: ``desc()`` the message, ``node()`` the node's name
    and ``op()`` its op type ("" where the error has no node)."""

    __slots__ = ("_desc", "_node", "_op", "index")

    def __init__(self, index, desc, node, op):
        self.index = index
        self._desc, self._node, self._op = desc, node, op

    def desc(self):
        return self._desc

    def node(self):
        return self._node

    node_name = node

    def op(self):
        return self._op

    node_operator = op

    def __str__(self):
        return self._desc

    def __repr__(self):
        return "<kiln.ParserError node=%r op=%r: %s>" % (self._node, self._op, self._desc)


class OnnxParser(Wrapper):
    """``kiln.OnnxParser(network, logger)`` fills ``network`` from an ONNX model.

    ``parse`` and ``parse_from_file`` return False when the model has problems; then
    ``num_errors`` and ``get_error(i)`` list every one (each unsupported node, not only
    the first), naming node and op.
    """

    _kind = "ONNX parser"

    def __init__(self, network, logger=None):
        from .network import NetworkDefinition
        if not isinstance(network, NetworkDefinition):
            raise KilnTypeError("network must be a kiln.NetworkDefinition "
                                "(builder.create_network()), not %s" % type(network).__name__)
        if logger is None:
            logger = network.builder.logger
        lh = _logger_handle(logger)
        out = ctypes.c_void_p()
        check(C.onnx_parser_create(network._ptr, lh.ptr if lh else None, ctypes.byref(out)))
        self._h = Handle(out.value, C.onnx_parser_destroy, "ONNX parser", deps=(lh,))
        # The network borrows the model's weights from the parser until a build copies
        # them: the network's handle keeps the parser and destroys it first.
        network._h.attach(self._h)
        self.network = network
        self.logger = logger

    def _finish(self, status, hint=None):
        if status == 0:
            return True
        if status in _MODEL_ERRORS and self.num_errors > 0:
            return False
        raise error_for(status, hint=hint)

    def parse(self, model, path=None):
        """Parses a serialized model (bytes, bytearray, memoryview, numpy uint8 array).
        ``path`` is the model file's path (or folder), where external data files are
        looked for; the current directory by default. Returns True on success."""
        if isinstance(model, str):
            hint = ""
            if len(model) < 4096 and os.path.exists(model):
                hint = (" It looks like a path: use parser.parse_from_file(%r), or pass "
                        "the file's bytes." % model)
            raise KilnTypeError(
                "OnnxParser.parse needs the model's bytes, not a str: open the file with "
                '"rb" (open(path, "rb").read()).' + hint)
        try:
            buf = np.frombuffer(model, dtype=np.uint8)
        except (TypeError, ValueError, BufferError):
            raise KilnTypeError("OnnxParser.parse needs a bytes-like object, not %s"
                                % type(model).__name__) from None
        model_dir = None
        if path is not None:
            path = os.fspath(path)
            model_dir = path if os.path.isdir(path) else (os.path.dirname(path) or ".")
            model_dir = cstr(model_dir, "path")
        status = C.onnx_parser_parse(self._ptr, buf.ctypes.data if buf.size else None,
                                     buf.size, model_dir)
        return self._finish(status)

    def parse_from_file(self, model):
        """Parses a model file (mapped, not read: weights are not copied). True on success."""
        path = cstr(model, "model path")
        return self._finish(C.onnx_parser_parse_from_file(self._ptr, path))

    @property
    def num_errors(self):
        return int(C.onnx_parser_num_errors(self._ptr))

    def get_error(self, index):
        n = self.num_errors
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("parser error %d is out of range (there are %d)" % (index, n))
        p = self._ptr
        return ParserError(i, text(C.onnx_parser_get_error(p, i)) or "",
                           text(C.onnx_parser_get_error_node(p, i)) or "",
                           text(C.onnx_parser_get_error_op(p, i)) or "")

    @property
    def errors(self):
        """Every error of the last parse."""
        return [self.get_error(i) for i in range(self.num_errors)]

    def __repr__(self):
        return "<kiln.OnnxParser %d errors>" % self.num_errors
