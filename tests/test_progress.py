"""damer_lite.progress: text bars unless a kernel can draw widgets, and no 'IProgress not found' warning."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import tqdm.notebook
import tqdm.std

from damer_lite import progress

ROOT = Path(__file__).resolve().parents[1]


def test_text_bar_outside_a_kernel():
    assert progress.bar_class(kernel=False, widgets=True) is tqdm.std.tqdm
    assert progress.bar_class(kernel=False, widgets=False) is tqdm.std.tqdm


def test_text_bar_in_a_kernel_without_widgets():
    assert progress.bar_class(kernel=True, widgets=False) is tqdm.std.tqdm


def test_widget_bar_in_a_kernel_with_widgets():
    assert progress.bar_class(kernel=True, widgets=True) is tqdm.notebook.tqdm


def test_tqdm_chooses_per_bar(monkeypatch):
    """The choice is made when a bar is made: in a kernel without widgets the bar is plain text."""
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setattr(progress, "widgets_available", lambda: False)
    out = io.StringIO()
    bar = progress.tqdm(range(5), file=out, desc="demo", mininterval=0)
    assert type(bar) is tqdm.std.tqdm
    assert sum(1 for _ in bar) == 5
    assert "demo: 100%" in out.getvalue() and "5/5" in out.getvalue()
    monkeypatch.setattr(progress, "widgets_available", lambda: True)
    assert progress.bar_class() is tqdm.notebook.tqdm


def test_trange_counts_and_disable():
    out = io.StringIO()
    assert list(progress.trange(2, 7, file=out, mininterval=0)) == [2, 3, 4, 5, 6]
    assert "5/5" in out.getvalue()
    quiet = io.StringIO()
    assert list(progress.trange(3, file=quiet, disable=True)) == [0, 1, 2]
    assert quiet.getvalue() == ""


def test_in_kernel(monkeypatch):
    """A console (no ipykernel, or no shell) is not a kernel; a shell with a kernel is."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert progress.in_kernel() is False
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert progress.in_kernel() is False
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=None))
    assert progress.in_kernel() is False
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert progress.in_kernel() is True


def test_only_the_no_widget_warning_is_silenced():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # as pytest does per test; then the package's filter on top
        progress.silence_no_widget_warning()
        warnings.warn("IProgress not found. Please update jupyter and ipywidgets.", tqdm.std.TqdmWarning, stacklevel=1)
        warnings.warn("another tqdm warning", tqdm.std.TqdmWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["another tqdm warning"]


# tqdm.autonotebook decides it is in a notebook when ipykernel's shell module is loaded; with that faked, a
# bare `import tqdm.auto` (as pooch does) warns 'IProgress not found' when ipywidgets is missing.
_IMPORT_AUTO = """
import sys, types
sys.modules['ipykernel.zmqshell'] = types.ModuleType('ipykernel.zmqshell')
import IPython
{first}
import warnings
with warnings.catch_warnings(record=True) as seen:
    import tqdm.auto
print('IProgress warnings:', sum('IProgress not found' in str(w.message) for w in seen))
"""


@pytest.mark.skipif(progress.widgets_available(), reason="ipywidgets is installed: tqdm.auto does not warn")
@pytest.mark.parametrize("first, warns", [("", True), ("import damer_lite", False)])
def test_importing_tqdm_auto_in_a_kernel_after_the_package_does_not_warn(first, warns):
    """Without the package imported first the warning appears: the check can fail."""
    run = subprocess.run([sys.executable, "-c", _IMPORT_AUTO.format(first=first)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"IProgress warnings: {1 if warns else 0}" in run.stdout


def test_no_module_imports_tqdm_directly():
    """Every progress bar of the package goes through damer_lite.progress."""
    pattern = re.compile(r"^\s*(from tqdm\b|import tqdm\b)", re.M)
    direct = [str(p.relative_to(ROOT)) for p in (ROOT / "damer_lite").rglob("*.py")
              if p.name != "progress.py" and pattern.search(p.read_text())]
    assert direct == []
