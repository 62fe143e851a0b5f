"""Dataset loaders. Every loader returns the canonical manifest (see `manifest.py`)."""

from __future__ import annotations

import importlib

import pandas as pd

# name -> "module:function"; each function takes (root, **options) and returns a manifest DataFrame.
LOADERS = {
    "memo2496": "damer_lite.datasets.memo2496:load",
    "synthmemo": "damer_lite.datasets.memo2496:load_synthmemo",
    "pmemo": "damer_lite.datasets.pmemo:load",
    "emomusic": "damer_lite.datasets.emomusic:load",
    "deam": "damer_lite.datasets.deam:load",
}


def load_manifest(name: str, root, **options) -> pd.DataFrame:
    """Load dataset `name` from folder `root` into the canonical manifest."""
    key = name.lower().replace("-", "").replace("_", "")
    if key == "1000songs":
        key = "emomusic"
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(LOADERS)}")
    module, func = LOADERS[key].split(":")
    return getattr(importlib.import_module(module), func)(root, **options)
