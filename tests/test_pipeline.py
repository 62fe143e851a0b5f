"""The whole Snakemake pipeline end to end on the smoke profile, its lint, and output-free notebooks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from damer_lite.predict import checkpoint

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED_TABLES = [
    "table1_datasets", "label_balance_synthmemo", "inter_rater_agreement_synthmemo",
    "feature_extraction_synthmemo", "feature_failures_synthmemo", "parameter_counts",
    "table5_ablation", "table5_paired", "tables2_4_models", "paper_vs_ours",
    "dynamics_summary_synthmemo", "tsne_separation_synthmemo", "label_efficiency_synthmemo",
    "style_shift_synthmemo", "your_music_predictions_synthmemo", "inter_rater_agreement_vs_published_synthmemo",
    "table5_semi", "table5_semi_paired", "table5_semi_models", "pcl_selection", "claims",
    # dynamic MER: the experiment's tables and notebook 09's (its lag tables need curves longer than the smoke
    # tracks' 6 s and are not expected here); personalised dynamic MER (the k-shot experiment)
    "dynamic_synthmemo", "dynamic_synthmemo_seeds", "dynamic_synthmemo_paired", "dynamic_results_synthmemo",
    "personal_synthmemo", "personal_synthmemo_tasks", "personal_synthmemo_paired", "personal_synthmemo_runs",
    "dynamic_rater_spread_synthmemo", "dynamic_ccc_vs_rmse", "dynamic_quoted",
    # notebook 10_personalised
    "personal_annotators_synthmemo", "personal_track_raters_synthmemo", "personal_offsets_synthmemo",
    "personal_k_shot_synthmemo", "personal_vs_global_synthmemo", "personal_listener_synthmemo",
    "personal_listener_check_synthmemo", "personal_quoted",
    # notebook 08: the ids of the predicted files and the timelines against the raters' curves
    "your_music_ids_synthmemo", "your_music_timeline_agreement_synthmemo",
    # notebook 05's error analysis of the exported checkpoints, notebook 06's mask-ratio saturation per seed
    "errors_synthmemo", "pcl_saturation_synthmemo",
]
EXPECTED_FIGURES = [
    "fig1_annotators_synthmemo", "fig2_circumplex_synthmemo", "fig3_calibration_synthmemo",
    "label_distributions_synthmemo", "features_synthmemo", "dsaf_attention_synthmemo", "table5_ablation",
    "fig5_pcl_dynamics_synthmemo", "fig6_saml_dynamics_synthmemo", "fig7_tsne_synthmemo",
    "label_efficiency_synthmemo", "your_music_va_synthmemo", "rater_spread_synthmemo", "reliability_synthmemo",
    "dynamic_rater_curves_synthmemo", "dynamic_ccc_vs_rmse", "dynamic_predicted_vs_annotated_synthmemo",
    "personal_annotators_synthmemo", "personal_track_raters_synthmemo", "personal_schematic",
    "personal_task_matrix_synthmemo", "personal_k_shot_synthmemo", "personal_listener_synthmemo",
    "errors_synthmemo", "errors_reliability_synthmemo",
]


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _failure_report(r) -> str:
    """What a failed Snakemake run needs to be diagnosed: the logs of the jobs that failed (named in its
    "log: ... (check log file(s) for error details)" lines) in full, first, then the tail of its output."""
    if r.returncode == 0:
        return ""
    failed = re.findall(r"log: (\S+) \(check log", r.stdout + r.stderr)
    logs = "".join(f"\n===== {f} =====\n" + Path(f).read_text(errors="replace")[-6000:]
                   for f in dict.fromkeys(failed) if Path(f).exists())
    return logs + "\n===== snakemake =====\n" + r.stderr[-3000:]


def _snakemake(*args, cwd=ROOT):
    exe = shutil.which("snakemake", path=_env()["PATH"])
    return subprocess.run([exe, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs_and_have_parameters(nb):
    data = json.loads(nb.read_text())
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), nb.name
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), nb.name
    assert len(data["cells"]) <= 45, nb.name


def test_snakemake_lint_is_clean(tmp_path):
    r = _snakemake("--lint", "--config", "profile=smoke", f"results_dir={tmp_path}/results",
                   f"data_dir={tmp_path}/data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Congratulations" in r.stdout + r.stderr, r.stdout + r.stderr


def test_dry_run_lists_the_grid(tmp_path):
    r = _snakemake("-n", "--config", "profile=quick", f"results_dir={tmp_path}/results",
                   f"data_dir={tmp_path}/data")
    assert r.returncode == 0, r.stdout + r.stderr
    stats = dict(re.findall(r"^(train\S*)\s+(\d+)$", r.stdout, flags=re.M))
    # one job per (target, model) with all its seeds, the showcase cell (DAMER, seed 0) through notebook 04
    models = ["dsaf", "pcl", "saml", "dsaf_pcl", "pcl_saml", "dsaf_saml", "damer", "svm", "concat_linear",
              "mel_transformer", "coch_transformer"]
    assert {f"train_{m}": "2" for m in models}.items() <= stats.items(), stats
    assert stats["train_showcase"] == "2"
    # the semi-supervised protocol: the 7 configurations and the two scikit-learn baselines
    semi = {k for k in stats if k.startswith("train_semi_")}
    assert semi == {f"train_semi_{m}" for m in models[:9]}, stats


def test_the_datasets_test_size_reaches_every_classification_job(tmp_path):
    """config datasets.<name>.test_size is passed to the grid, the showcase notebook, label efficiency and the
    export runs (their shell commands in a dry run)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["datasets"]["synthmemo"]["test_size"] = 120
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake("-n", "-p", "--configfile", str(tmp_path / "c.yaml"), "--config", "profile=quick",
                   f"results_dir={tmp_path}/results", f"data_dir={tmp_path}/data")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    grid = [s for s in lines if "damer_lite grid" in s]
    assert grid and all("--test-size 120" in s for s in grid), grid[:2]
    for marker, flag in (("04_training.ipynb", "-p test_size 120"), ("--only efficiency", "--test-size 120"),
                         ("damer_lite train ", "--test-size 120")):
        hits = [s for s in lines if marker in s and ("papermill" in s or "python" in s)]
        assert hits and all(flag in s for s in hits), (marker, hits[:2])


@pytest.mark.parametrize(("profile", "flag"), [("quick", "--test-size 600"), ("smoke", "--test-size 0.3")])
def test_synthmemo_null_test_size_is_the_design_of_its_size(tmp_path, profile, flag):
    """The committed config leaves SynthMemo's test_size null: quick runs 210 train / 600 test of 810 tracks,
    smoke keeps 70/30 (the grid jobs' shell commands in a dry run)."""
    from damer_lite.datasets import synth

    assert synth.SIZES["quick"]["n_tracks"] - synth.DESIGN_TEST_SIZE["quick"] == 210
    r = _snakemake("-n", "-p", "--config", f"profile={profile}", f"results_dir={tmp_path}/results",
                   f"data_dir={tmp_path}/data")
    assert r.returncode == 0, r.stdout + r.stderr
    grid = [s for s in r.stdout.splitlines() if "damer_lite grid" in s]
    assert grid and all(flag in s for s in grid), grid[:2]


def _job_resources(dry_run_stdout: str) -> dict[str, str]:
    """rule name -> its `resources:` line, from `snakemake -n` output."""
    out, rule = {}, None
    for line in dry_run_stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\S+):$", line)
        if m:
            rule = m.group(1)
        elif rule and line.strip().startswith("resources:"):
            out[rule] = line
    return out


def test_paper_profile_gives_one_job_per_cell_and_the_cpu_route_asks_for_no_gpu(tmp_path):
    """`seeds_per_job: 1` (paper) splits the grid into one job per cell; training jobs ask for a GPU, the
    scikit-learn baselines never do, and device=cpu (the CPU-only cluster route) leaves every job without one."""
    base = ["-n", "--config", "profile=paper", f"data_dir={tmp_path}/data"]
    r = _snakemake(*base)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = dict(re.findall(r"^(train\S*)\s+(\d+)$", r.stdout, flags=re.M))
    assert {f"train_dsaf_seed{s}" for s in range(5)} <= stats.keys(), stats
    assert {f"train_damer_seed{s}" for s in range(1, 5)} <= stats.keys()  # seed 0 is the showcase
    res = _job_resources(r.stdout)
    assert "gpu=1" in res["train_dsaf_seed0"] and "gpu=1" in res["train_showcase"], res
    assert "gpu=0" in res["train_svm_seed0"] and "gpu=0" in res["train_concat_linear_seed0"], res
    cpu = _snakemake(*base[:3], "device=cpu", *base[3:])
    assert cpu.returncode == 0, cpu.stdout + cpu.stderr
    assert "gpu=1" not in cpu.stdout and "gpu=0" in cpu.stdout
    # each profile writes its own results folder: a paper run never mixes into the committed quick results/
    assert "results_paper/runs/" in r.stdout and " results/runs/" not in r.stdout


def test_wrong_config_is_rejected(tmp_path):
    r = _snakemake("-n", "--config", "profile=huge", f"results_dir={tmp_path}/r", f"data_dir={tmp_path}/d")
    assert r.returncode != 0
    assert "profile" in (r.stdout + r.stderr)


def test_smoke_pipeline_end_to_end(tmp_path):
    res, data = tmp_path / "results", tmp_path / "data"
    r = _snakemake("--cores", "2", "--config", "profile=smoke", f"results_dir={res}", f"data_dir={data}")
    assert r.returncode == 0, _failure_report(r)
    for name in EXPECTED_TABLES:
        for ext in ("csv", "md"):
            f = res / "tables" / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 0, f
    for name in EXPECTED_FIGURES:
        for ext in ("png", "pdf"):
            f = res / "figures" / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 0, f
    executed = sorted((res / "notebooks").glob("*.ipynb")) + sorted((res / "runs").rglob("04_training.ipynb"))
    assert len(executed) >= 8
    for nb in executed:
        cells = json.loads(nb.read_text())["cells"]
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (nb, errors)
        assert not nb.with_suffix(".html").exists(), nb  # no loose HTML copy (CDN MathJax): the site renders it
    n_runs = len(list((res / "runs").rglob("run.json")))
    assert n_runs == 2 * 11  # 2 targets x 11 models x 1 seed
    assert len(list((res / "runs_semi").rglob("run.json"))) == 2 * 9  # 7 configurations + svm + concat_linear
    for target in ("arousal", "valence"):
        # exported from its own run, whose temperature was fitted on a validation share of the training split
        ck = checkpoint.load(res / "checkpoints" / f"synthmemo_{target}.pt")
        export_run = res / "runs_export" / "synthmemo" / target / "damer" / "seed0"
        export = json.loads((export_run / "metrics.json").read_text())
        assert ck.calibrated and ck.temperature == pytest.approx(export["calibration"]["temperature"])
        assert export["n_val"] > 0 and ck.card["source_run"].endswith(f"{target}/damer/seed0")
    index = (res / "README.md").read_text()
    assert "table5_ablation" in index and "fig7_tsne_synthmemo" in index
    assert "09_dynamic_synthmemo.ipynb" in index and "10_personalised_synthmemo.ipynb" in index
    # the dynamic experiment ran, so paper_vs_ours carries the quoted dynamic-MER block
    assert "literature (quoted)" in (res / "tables" / "paper_vs_ours.csv").read_text()


def test_two_datasets_of_different_layouts_join_the_grid(tmp_path):
    """Memo2496 and PMEmo layouts (made from a small SynthMemo) run through the smoke pipeline together:
    both get their runs, notebooks and paper-vs-ours cells, and the cross-dataset table is produced."""
    import yaml

    from damer_lite.datasets import synth
    from tests.fixtures_real import pmemo_from_memo_layout

    memo = tmp_path / "Memo2496"
    synth.generate(memo, n_tracks=24, duration=6.0, sr=16000, seed=11, progress=False)
    pmemo = pmemo_from_memo_layout(memo, tmp_path / "pm")
    res, data = tmp_path / "results", tmp_path / "data"
    cfg = {
        "profile": "smoke", "results_dir": str(res), "data_dir": str(data),
        "configurations": ["damer"], "baselines": ["svm"],
        "datasets": {"synthmemo": {"enabled": False}, "memo2496": {"root": str(memo)}, "pmemo": {"root": str(pmemo)}},
    }
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(cfg))
    r = _snakemake("--cores", "2", "--configfile", str(tmp_path / "two.yaml"))
    assert r.returncode == 0, _failure_report(r)
    for ds in ("memo2496", "pmemo"):
        assert len(list((res / "runs" / ds).rglob("run.json"))) == 2 * 2  # 2 targets x (damer, svm)
        assert (res / "notebooks" / f"01_data_{ds}.ipynb").is_file()
        assert (res / "figures" / f"fig7_tsne_{ds}.png").is_file()
    cross = (res / "tables" / "cross_dataset.csv").read_text()
    assert "memo2496" in cross and "pmemo" in cross
    paper = (res / "tables" / "paper_vs_ours.csv").read_text()
    assert "not run (data absent)" in paper  # 1000songs is not configured
    for ds in ("memo2496", "pmemo"):  # measured cells filled with numbers for both datasets
        measured = [ln for ln in paper.lower().splitlines() if ds in ln and "ours (measured)" in ln]
        assert measured and not all("not run" in ln for ln in measured), ds
    assert not (res / "runs" / "synthmemo").exists()
