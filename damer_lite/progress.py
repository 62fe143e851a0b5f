"""Progress bars: plain text, unless a Jupyter kernel can draw a widget.

    from damer_lite.progress import tqdm, trange
    for x in tqdm(items, desc="features", unit="track"): ...

`tqdm.auto` picks the widget bar whenever it runs inside a Jupyter kernel; without ipywidgets that bar
cannot be drawn, so it falls back to text after warning "TqdmWarning: IProgress not found" into every
notebook output. Here the widget bar is used only when it can be drawn (a kernel and an importable
`ipywidgets.FloatProgress`); otherwise the text bar of `tqdm.std`, with no warning. The choice is made per
bar, so one process can be imported from a console and later run a kernel.

Importing this module (the package imports it first) also silences that one warning when a dependency
imports `tqdm.auto` itself (pooch, which librosa imports, does): the text fallback it announces is what
this module chooses anyway. Every other tqdm warning is left alone.
"""

from __future__ import annotations

import sys
import warnings

from tqdm.std import TqdmWarning
from tqdm.std import tqdm as text_tqdm

NO_WIDGET_WARNING = "IProgress not found"  # the start of tqdm's warning when ipywidgets is missing


def silence_no_widget_warning() -> None:
    """Ignore tqdm's 'IProgress not found' warning (only that one); done once when this module is imported."""
    warnings.filterwarnings("ignore", message=NO_WIDGET_WARNING, category=TqdmWarning)


silence_no_widget_warning()


def in_kernel() -> bool:
    """True inside a Jupyter (ipykernel) kernel: a notebook, JupyterLab, papermill; False in a console."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_available() -> bool:
    """True when tqdm's widget bar can be drawn (ipywidgets importable, with its progress widget)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tqdm.notebook import IProgress
    except ImportError:
        return False
    return IProgress is not None


def bar_class(kernel: bool | None = None, widgets: bool | None = None) -> type:
    """The tqdm class to use: the widget bar (`tqdm.notebook.tqdm`) in a kernel with widgets, else the
    text bar (`tqdm.std.tqdm`). `kernel` and `widgets` default to what this process has."""
    kernel = in_kernel() if kernel is None else kernel
    if not kernel:
        return text_tqdm
    widgets = widgets_available() if widgets is None else widgets
    if not widgets:
        return text_tqdm
    from tqdm.notebook import tqdm as widget_tqdm

    return widget_tqdm


def tqdm(*args, **kwargs):
    """A progress bar (same arguments as `tqdm.tqdm`), of the class `bar_class()` chooses now."""
    return bar_class()(*args, **kwargs)


def trange(*args, **kwargs):
    """`tqdm(range(*args), **kwargs)`."""
    return tqdm(range(*args), **kwargs)
