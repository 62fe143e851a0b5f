"""damer-lite: an open, runnable companion to DAMER and the Memo2496 protocol (arXiv 2512.13998)."""

__version__ = "0.1.0"

from damer_lite import progress as _progress  # noqa: E402,F401  first: text progress bars, no IProgress warning
