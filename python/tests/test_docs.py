"""Runs every Python example of docs/python.md, in order, in one namespace, from a folder
where models/ is the repository's: every call the page shows is exercised. The GPU
section's example must fail with the documented errors unless a GPU is available."""

import os
import re

import pytest

import kiln
from conftest import SOURCE_DIR

DOC = os.path.join(SOURCE_DIR, "docs", "python.md")


def _blocks():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    gpu_at = text.index("\n## GPU")
    blocks = []
    for m in re.finditer(r"```python\n(.*?)```", text, re.S):
        blocks.append((m.start() > gpu_at, m.group(1), text.count("\n", 0, m.start()) + 2))
    return blocks


@pytest.fixture(scope="module")
def doc_namespace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    os.symlink(os.path.join(SOURCE_DIR, "models"), folder / "models")
    return folder, {"__name__": "docs_python_md"}


def test_the_page_has_examples():
    blocks = _blocks()
    assert len([b for b in blocks if not b[0]]) >= 10
    assert len([b for b in blocks if b[0]]) == 1


def _exec(code, line, namespace):
    exec(compile("\n" * (line - 1) + code, DOC, "exec"), namespace)


def test_cpu_examples(doc_namespace, capsys, monkeypatch):
    folder, namespace = doc_namespace
    monkeypatch.chdir(folder)
    for gpu, code, line in _blocks():
        if not gpu:
            _exec(code, line, namespace)
    out = capsys.readouterr()
    # A few of the outputs the page promises
    assert "custom_node com.example::MyOp" in out.out
    assert 'open the file with "rb"' in out.out
    assert "expects float32, but the array given is float64" in out.out
    assert "outside the optimization profile: min [1, 1, 8, 8], max [64, 1, 8, 8]" in out.out
    assert "corrupted plan" in out.out
    assert "(8, 10)" in out.out and "[9. 9.]" in out.out
    assert any("FP16 flag is set" in w for w in namespace["my_logger"].warnings)
    assert (folder / "digits.plan").exists() and (folder / "digits-copy.plan").exists()


def test_gpu_example(doc_namespace, monkeypatch):
    folder, namespace = doc_namespace
    if "context" not in namespace:
        pytest.fail("test_cpu_examples must run first (it defines the namespace)")
    monkeypatch.chdir(folder)
    ((_, code, line),) = [b for b in _blocks() if b[0]]
    if kiln.cuda.is_available():
        _exec(code, line, namespace)
        return
    build, cuda_part = code.split("stream = kiln.cuda.Stream()\n")
    with pytest.raises((kiln.KilnUnsupportedError, kiln.KilnDeviceError)):
        _exec(build, line, dict(namespace))
    with pytest.raises(kiln.KilnError, match="^CUDA is not available"):
        _exec("stream = kiln.cuda.Stream()\n" + cuda_part, line, dict(namespace))
    for call in ("kiln.cuda.pagelocked_empty((8, 1, 8, 8), np.float32)",
                 "kiln.cuda.mem_alloc(256)", "kiln.cuda.Event()"):
        with pytest.raises(kiln.KilnError, match="^CUDA is not available"):
            eval(call, dict(namespace))
