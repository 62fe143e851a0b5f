"""Compare every number of two results folders' tables: is a regeneration the committed result?

    python -m damer_lite.report.verify results /scratch/results [--tolerance 0.0017] [--out report.md]
    make verify        # regenerates into verify/results (fresh data too), then runs this

Each CSV in `<committed>/tables/` is read beside the same file of the regenerated folder. Cells are compared
number by number (the numbers inside text such as "78.22 ± 2.43" too):
* integers (counts, seeds, wins) must be equal;
* other numbers may differ by the tolerance: by default one test track of the quick split (1/600 of the
  accuracy), i.e. 0.17 for numbers on a 0-100 scale (percent, points) and 0.0017 for numbers within [-1.5, 1.5]
  (fractions, AUC, p values, correlations);
* the text around the numbers must be equal;
* timing columns (wall seconds, x real time, samples/s) are machine measurements and are listed as not
  compared.
Exit status: 0 when nothing differs beyond the tolerance, 1 otherwise, 2 when a folder is missing.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from damer_lite.datasets.synth import DESIGN_TEST_SIZE

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TIMING = re.compile(r"wall|x_?real_?time|per_s\b|samples_per|seconds|throughput|sps|_time\b", re.I)
ONE_TRACK = 1 / DESIGN_TEST_SIZE["quick"]  # one test track of the quick profile's test split (600 tracks)


@dataclass
class TableDiff:
    name: str
    compared: int = 0  # numbers compared
    identical: int = 0
    within: int = 0
    beyond: list[str] = field(default_factory=list)  # "row r, column c: committed -> regenerated"
    skipped_columns: list[str] = field(default_factory=list)
    problem: str = ""  # a structural difference (missing file, other shape or columns)


def _tolerance(a: float, b: float, fraction: float) -> float:
    return 100 * fraction if max(abs(a), abs(b)) > 1.5 else fraction


def _compare_cell(a, b, fraction: float) -> tuple[str, int, int, int]:
    """('', identical, within, beyond) or (a text difference, 0, 0, 0)."""
    sa, sb = ("" if pd.isna(a) else str(a)), ("" if pd.isna(b) else str(b))
    na, nb = NUMBER.findall(sa), NUMBER.findall(sb)
    if NUMBER.sub("#", sa) != NUMBER.sub("#", sb) or len(na) != len(nb):
        return f"{sa!r} -> {sb!r}", 0, 0, 0
    same = within = beyond = 0
    for ta, tb in zip(na, nb, strict=True):
        if ta == tb:
            same += 1
            continue
        xa, xb = float(ta), float(tb)
        if xa == xb or (math.isnan(xa) and math.isnan(xb)):
            same += 1
        elif re.fullmatch(r"[-+]?\d+", ta) and re.fullmatch(r"[-+]?\d+", tb):
            beyond += 1  # integers must be equal
        elif abs(xa - xb) <= _tolerance(xa, xb, fraction) + 1e-12:
            within += 1
        else:
            beyond += 1
    return "", same, within, beyond


def compare_table(committed: Path, regenerated: Path, fraction: float = ONE_TRACK) -> TableDiff:
    out = TableDiff(committed.name)
    if not regenerated.is_file():
        out.problem = "missing in the regenerated folder"
        return out
    a = pd.read_csv(committed, dtype=str, keep_default_na=False)
    b = pd.read_csv(regenerated, dtype=str, keep_default_na=False)
    if list(a.columns) != list(b.columns):
        out.problem = f"columns differ: {list(a.columns)} vs {list(b.columns)}"
        return out
    if len(a) != len(b):
        out.problem = f"{len(a)} rows vs {len(b)}"
        return out
    out.skipped_columns = [c for c in a.columns if TIMING.search(str(c))]
    for col in a.columns:
        if col in out.skipped_columns:
            continue
        for r, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
            text, same, within, beyond = _compare_cell(x, y, fraction)
            if text:
                out.beyond.append(f"row {r}, {col}: {text}")
                continue
            out.compared += same + within + beyond
            out.identical += same
            out.within += within
            if beyond:
                out.beyond.append(f"row {r}, {col}: {x} -> {y}")
    return out


def compare(committed_dir, regenerated_dir, fraction: float = ONE_TRACK) -> list[TableDiff]:
    """One TableDiff per CSV of `committed_dir`/tables (and one per table only the regenerated folder has)."""
    ta, tb = Path(committed_dir) / "tables", Path(regenerated_dir) / "tables"
    for d in (ta, tb):
        if not d.is_dir():
            raise FileNotFoundError(f"no tables folder at {d}")
    diffs = [compare_table(f, tb / f.name, fraction) for f in sorted(ta.glob("*.csv"))]
    for f in sorted(tb.glob("*.csv")):
        if not (ta / f.name).is_file():
            diffs.append(TableDiff(f.name, problem="only in the regenerated folder"))
    return diffs


def report(diffs: list[TableDiff], fraction: float, max_lines: int = 8) -> str:
    lines = [
        "| table | numbers compared | identical | within tolerance | beyond | not compared |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for d in diffs:
        if d.problem:
            lines.append(f"| {d.name} | — | — | — | {d.problem} | |")
        else:
            lines.append(f"| {d.name} | {d.compared} | {d.identical} | {d.within} | {len(d.beyond)} | "
                         f"{', '.join(d.skipped_columns)} |")
    total = sum(d.compared for d in diffs)
    same = sum(d.identical for d in diffs)
    bad = [d for d in diffs if d.problem or d.beyond]
    lines += ["", f"{same} of {total} numbers identical; tolerance {fraction:.4f} on fractions, "
                  f"{100 * fraction:.2f} on 0-100 scales (one test track = {ONE_TRACK:.4f})."]
    for d in bad:
        for item in d.beyond[:max_lines]:
            lines.append(f"- {d.name}: {item}")
        if len(d.beyond) > max_lines:
            lines.append(f"- {d.name}: ... {len(d.beyond) - max_lines} more")
    lines.append("verdict: " + ("the regenerated tables match" if not bad else
                                f"{len(bad)} table(s) differ beyond the tolerance"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m damer_lite.report.verify", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("committed", help="the committed results folder (e.g. results)")
    ap.add_argument("regenerated", help="a freshly regenerated results folder")
    ap.add_argument("--tolerance", type=float, default=ONE_TRACK,
                    help="allowed difference on fractions (x100 on 0-100 scales); default one test track, 1/90")
    ap.add_argument("--out", default=None, help="also write the report (Markdown) here")
    args = ap.parse_args(argv)
    try:
        diffs = compare(args.committed, args.regenerated, args.tolerance)
    except FileNotFoundError as e:
        print(f"verify: {e}", file=sys.stderr)
        return 2
    text = report(diffs, args.tolerance)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 1 if any(d.problem or d.beyond for d in diffs) else 0


if __name__ == "__main__":
    sys.exit(main())
