"""Writing results: tables as CSV + Markdown, figures as PNG + PDF, atomically, under one results folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_table(df: pd.DataFrame, name: str, out_dir, floatfmt: str = ".3f") -> list[Path]:
    """Write `df` to OUT/tables/NAME.csv and NAME.md; returns the paths. Missing values stay empty in the CSV
    and read "—" in the Markdown (undefined, e.g. the sd of one seed, is not zero)."""
    tdir = Path(out_dir) / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    csv, md = tdir / f"{name}.csv", tdir / f"{name}.md"
    _atomic_write_text(csv, df.to_csv(index=False))
    shown = df.astype(object).where(df.notna(), None)  # tabulate writes `missingval` for None only
    _atomic_write_text(md, shown.to_markdown(index=False, floatfmt=floatfmt, missingval="—") + "\n")
    return [csv, md]


def save_figure(fig, name: str, out_dir, dpi: int = 110) -> list[Path]:
    """Write a matplotlib figure to OUT/figures/NAME.png and NAME.pdf; returns the paths."""
    fdir = Path(out_dir) / "figures"
    fdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = fdir / f"{name}.{ext}"
        tmp = p.with_name(f"{p.stem}.tmp.{ext}")
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=_metadata(ext))
        os.replace(tmp, p)
        paths.append(p)
    return paths


def _metadata(ext: str) -> dict:
    # no creation dates: re-running the pipeline gives the same bytes for the same numbers
    return {"CreationDate": None} if ext == "pdf" else {"Software": None}
