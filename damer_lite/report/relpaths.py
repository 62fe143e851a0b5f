"""Make executed notebooks portable: replace the repository's absolute path in their outputs by '.'.

    python -m damer_lite.report.relpaths results/notebooks/01_data_synthmemo.ipynb [...]

The pipeline runs this on every executed notebook before exporting HTML, so that committed outputs do
not carry the layout of the machine that produced them (paths printed by the code, warnings' file names).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from damer_lite.paths import project_root


def relativise_text(text: str, root: Path) -> str:
    """'ROOT/a/b' -> 'a/b' and a bare 'ROOT' -> '.'; a longer sibling name ('ROOTx') is left alone."""
    root_s = re.escape(str(root).rstrip("/"))
    text = re.sub(root_s + r"/(?=[^/])", "", text)
    return re.sub(root_s + r"(?![\w.-])", ".", text)


def relativise_file(path, root: Path | None = None) -> bool:
    """Rewrite `path` in place (atomically) when it mentions the project root; True if it changed."""
    path = Path(path)
    root = root or project_root()
    old = path.read_text()
    new = relativise_text(old, root)
    if new == old:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)
    return True


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    for a in args:
        relativise_file(a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
