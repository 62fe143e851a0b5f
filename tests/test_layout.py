"""The package's shape stays as documented: one subpackage per stage, imports flowing one way.

Stages, top to bottom: datasets -> features -> model -> training -> experiments -> report -> predict -> cli.
A module may import from its own stage and the stages above it (and the base modules config, paths, progress
and workers);
never from a stage below it. Only cli (and `python -m damer_lite`) imports cli.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "damer_lite"
STAGES = ("datasets", "features", "model", "training", "experiments", "report", "predict", "cli")
BASE = {"damer_lite", "damer_lite.config", "damer_lite.paths", "damer_lite.progress", "damer_lite.workers"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> int:
    """-1 for the base modules, else the index of the module's stage; `python -m damer_lite` is the top."""
    if module in BASE:
        return -1
    if module == "damer_lite.__main__":
        return len(STAGES)
    first = module.split(".")[1]
    if first not in STAGES:
        raise AssertionError(f"{module} belongs to no stage: the only top-level modules are the base modules")
    return STAGES.index(first)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, imported damer_lite module) for every import in the file, function-local ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "damer_lite"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "damer_lite":
                continue
            for a in node.names:  # `from damer_lite.x import y` may name a submodule y
                sub = f"{mod}.{a.name}"
                is_module = (root / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (root / Path(*sub.split(".")) / "__init__.py").is_file()
                found.append((node.lineno, sub if is_module else mod))
    return found


def back_edges(pkg: Path = PKG) -> list[str]:
    root = pkg.parent
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        me = module_name(path, root)
        s = stage_of(me)
        for line, target in imports_of(path, root):
            t = stage_of(target)
            where = f"{path.relative_to(root)}:{line} imports {target}"
            if t > s:
                bad.append(f"{where} (stage {STAGES[t] if t < len(STAGES) else 'main'} is below "
                           f"{STAGES[s] if s >= 0 else 'the base modules'})")
            elif t == STAGES.index("cli") and s < STAGES.index("cli"):
                bad.append(f"{where} (only cli imports cli)")
    return bad


def test_no_module_imports_from_a_stage_below_it():
    assert back_edges() == []


def test_the_check_catches_a_back_edge(tmp_path):
    """The import check itself can fail: a model module importing training is reported."""
    fake = tmp_path / "damer_lite"
    for d in ("model", "training"):
        (fake / d).mkdir(parents=True)
        (fake / d / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "model" / "bad.py").write_text("def f():\n    from damer_lite.training import loop\n")
    (fake / "training" / "loop.py").write_text("from damer_lite.model import bad\n")
    edges = back_edges(fake)
    assert len(edges) == 1 and "damer_lite/model/bad.py:2 imports damer_lite.training.loop" in edges[0]


def test_top_level_holds_only_the_base_modules_and_the_package_faces():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "config.py", "paths.py", "progress.py", "workers.py"]
    subpackages = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert subpackages == sorted(STAGES)


def test_readme_names_every_subpackage():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## What is in it"):readme.index("## The notebooks")]
    for stage in STAGES:
        assert re.search(rf"`damer_lite/{stage}/`", table), f"README's 'What is in it' table does not name {stage}/"


@pytest.mark.parametrize("name", ["TARGETS", "METRICS"])
def test_shared_names_are_defined_once(name):
    """Target and metric names live in damer_lite.config only."""
    pattern = re.compile(rf"^{name}\s*=", re.M)
    owners = [str(p.relative_to(ROOT)) for p in PKG.rglob("*.py") if pattern.search(p.read_text())]
    assert owners == ["damer_lite/config.py"]
