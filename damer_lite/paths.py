"""Path helpers so that notebooks behave the same from Jupyter (cwd notebooks/) and from Snakemake (repo root)."""

from __future__ import annotations

from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    """The nearest folder upwards holding pyproject.toml (the repository), else the current directory."""
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").is_file() and (p / "damer_lite").is_dir():
            return p
    return Path.cwd().resolve()


def resolve(path) -> Path:
    """An absolute path; relative paths are taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
