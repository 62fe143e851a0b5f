"""`damer_lite.report.verify`: numbers inside text are compared, integers exactly, the rest within one test
track, timings are not compared, and structural differences are reported."""

from __future__ import annotations

import pandas as pd

from damer_lite.report import verify


def _tables(root, name, df):
    (root / "tables").mkdir(parents=True, exist_ok=True)
    df.to_csv(root / "tables" / name, index=False)


def test_compare_and_exit_status(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    base = pd.DataFrame({"configuration": ["dsaf", "pcl"], "acc": ["78.22 ± 2.43", "77.56 ± 1.99"],
                         "auc": [0.8123, 0.8000], "n seeds": [5, 5], "wall_s": [10.0, 11.0]})
    _tables(a, "t.csv", base)
    _tables(b, "t.csv", base.assign(wall_s=[99.0, 1.0]))
    assert verify.main([str(a), str(b)]) == 0  # timings differ only
    d = verify.compare(a, b)[0]
    assert d.skipped_columns == ["wall_s"] and d.identical == d.compared == 8
    # within one test track of 600 (0.17 points / 0.0017) is tolerated; beyond it, or a different count, is not
    _tables(b, "t.csv", base.assign(acc=["78.35 ± 2.43", "77.56 ± 1.99"], auc=[0.8138, 0.8000]))
    assert verify.compare(a, b)[0].within == 2 and verify.main([str(a), str(b)]) == 0
    _tables(b, "t.csv", base.assign(acc=["78.60 ± 2.43", "77.56 ± 1.99"], **{"n seeds": [5, 4]}))
    d = verify.compare(a, b)[0]
    assert len(d.beyond) == 2 and verify.main([str(a), str(b)]) == 1
    _tables(b, "t.csv", base.assign(configuration=["dsaf", "saml"]))
    assert "'pcl' -> 'saml'" in verify.compare(a, b)[0].beyond[0]
    _tables(b, "extra.csv", base)
    (b / "tables" / "t.csv").unlink()
    problems = {d.name: d.problem for d in verify.compare(a, b)}
    assert problems == {"t.csv": "missing in the regenerated folder", "extra.csv": "only in the regenerated folder"}
    capsys.readouterr()
    assert verify.main([str(a), str(tmp_path / "none")]) == 2
