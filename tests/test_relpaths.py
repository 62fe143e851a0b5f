from pathlib import Path

from damer_lite.report import relpaths


def test_relativise_replaces_the_root_only(tmp_path):
    root = Path("/some/where/repo")
    text = '{"text": "run folder: /some/where/repo/results/runs/x\\n/some/where/repo and /some/where/repository"}'
    out = relpaths.relativise_text(text, root)
    assert "results/runs/x" in out and "/some/where/repo/" not in out
    assert "/some/where/repository" in out  # a longer sibling name is not the root
    f = tmp_path / "nb.ipynb"
    f.write_text(f"path {tmp_path}/results")
    assert relpaths.relativise_file(f, tmp_path) and f.read_text() == "path results"
    assert not relpaths.relativise_file(f, tmp_path)
