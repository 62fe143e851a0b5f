"""Write results/README.md: every table, figure and executed notebook, what it is and what made it.

    python -m damer_lite.report.results_index --results results --profile quick --datasets synthmemo
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

# name prefix -> (what it is, the notebook that writes it); the first that matches the start of a file's name
# wins (a regular expression, so an entry may also pin the end with `$`): longer prefixes before shorter ones
KNOWN = [
    ("table1_datasets", "Table I analogue: datasets (paper rows quoted, ours measured)", "01_data"),
    ("label_balance", "class balance of the binarised targets", "01_data"),
    ("label_distributions", "static label histograms with the threshold at 0", "01_data"),
    ("inter_rater_agreement_vs_published", "our rater agreement beside quoted published figures (never mixed)",
     "01_data"),
    ("inter_rater_agreement", "inter-rater agreement (Cronbach's alpha, pairwise r, sd, Fleiss' kappa)", "01_data"),
    ("rater_spread", "spread of the raters' track means vs distance from neutral, by track ambiguity", "01_data"),
    ("fig1_annotators", "Fig. 1 analogue: annotator specialisations, sex and age", "01_data"),
    ("fig2_circumplex", "Fig. 2 analogue: static labels on the V-A circumplex", "01_data"),
    ("fig3_calibration", "Fig. 3 analogue: calibration distances and the 0.25 criterion", "01_data"),
    ("track_curves", "one track's per-second ratings: every rater, mean ± sd, the latent curve (SynthMemo) and the "
     "raters' response lag by cross-correlation, this track and pooled over every track", "01_data"),
    ("response_lag", "the raters' response lag per dimension: one track's peak, the noise-free simulated "
     "expectation and mean delay, the pooled peak with its 95 % bootstrap interval", "01_data"),
    ("feature_windows", "the analysis-window rule and each track's window", "02_features"),
    ("features_", "log-Mel vs cochleagram of a high- and a low-arousal track", "02_features"),
    ("feature_extraction", "feature extraction throughput", "02_features"),
    ("feature_failures", "tracks set aside by the loader or failed at decode/analysis (stage, reason)",
     "02_features"),
    ("dsaf_attention_trained", "DSAF attention maps of the exported checkpoints beside the untrained model, "
     "log2(w·N) on one shared scale", "03_model"),
    ("dsaf_attention", "DSAF cross-attention maps (untrained model)", "03_model"),
    ("attention_uniformity", "how far each DSAF attention map is from uniform (max w·N, KL in bits), untrained "
     "and trained", "03_model"),
    ("parameter_counts", "parameter counts per module (quick and paper models)", "03_model"),
    ("table5_semi_paired", "semi-supervised protocol: paired differences vs full DAMER", "05_ablation"),
    ("table5_semi_models", "semi-supervised protocol: baselines and DAMER on the labelled share", "05_ablation"),
    ("table5_semi", "semi-supervised Table V analogue: part of the training labels hidden", "05_ablation"),
    ("pcl_selection", "PCL's mask ratio per protocol and configuration (does selection still select?)",
     "05_ablation"),
    ("table5_ablation", "Table V analogue: the 7 module configurations, mean ± sd over seeds", "05_ablation"),
    ("table5_paired", "paired differences of each configuration vs full DAMER", "05_ablation"),
    ("tables2_4_models", "Tables II-IV analogue: baselines and DAMER, ACC/F1/AUC", "05_ablation"),
    ("paper_vs_ours", "the paper's quoted numbers beside ours (never mixed); once the dynamic experiment has "
     "run, a block of quoted dynamic-MER RMSEs in its own rows and column", "05_ablation"),
    ("claims", "each paper claim against the paired evidence: supports, contradicts or cannot decide",
     "05_ablation"),
    ("label_efficiency", "beyond the paper: accuracy vs labelled fraction, with and without PCL", "05_ablation"),
    ("style_shift", "beyond the paper: train on some timbres, test on others, with and without SAML",
     "05_ablation"),
    ("cross_dataset", "train on one dataset, test on another (zero-shot), all ordered pairs", "05_ablation"),
    ("errors_reliability", "held-out predictions of the exported checkpoints: reliability diagrams, raw vs "
     "temperature-calibrated, on the validation share (as stored) and the test split (recomputed)", "05_ablation"),
    ("errors_", "held-out errors of the exported checkpoints (full DAMER, showcase seed; test predictions recomputed "
     "and checked against the run's accuracy): error rate per V-A quadrant and per style, n, Wilson 95 % interval, "
     "share of the errors", "05_ablation"),
    # notebook 10_personalised's own figures and tables, before the experiment's four tables (longer prefixes first)
    ("personal_annotators", "personalised dynamic MER, SynthMemo: each simulated listener's stable bias, scale, "
     "response time constant and rating noise", "10_personalised"),
    ("personal_track_raters", "personalised dynamic MER, SynthMemo: one track's latent curve, three raters' curves "
     "and their noise-free responses (bias, scale, lag); the table: each rater's bias beside their mean gap on "
     "that track (their reading of the song + noise)", "10_personalised"),
    ("personal_offsets", "personalised dynamic MER, SynthMemo: the stable bias vs one song's reading (sd per "
     "dimension), the offset error without adaptation and copying one song, the break-even number of songs",
     "10_personalised"),
    ("personal_schematic", "personalised dynamic MER: tasks by annotator and first-order MAML's inner and outer "
     "loops (a drawing)", "10_personalised"),
    ("personal_task_matrix", "personalised dynamic MER: who rated which song, training vs held-out listeners, one "
     "held-out listener's support and query songs", "10_personalised"),
    ("personal_k_shot", "personalised dynamic MER: the k-shot curve, CCC / RMSE (/ PCC) per method and k, mean ± sd "
     "over the (held-out annotator, seed) units, n stated (formatted)", "10_personalised"),
    ("personal_vs_global", "personalised dynamic MER: each method and k minus the global model, paired over the same "
     "units: mean, 95 % t-interval, minimum detectable difference at 80 % power, p, wins, reading (formatted)",
     "10_personalised"),
    ("personal_listener_check", "personalised dynamic MER: the recomputed listener's metrics over all their query "
     "songs beside the experiment's tasks table", "10_personalised"),
    ("personal_listener", "personalised dynamic MER: one held-out listener of the showcase seed, a support song and "
     "a query song, annotated vs global, fine-tuned (k = 1) and oracle curves; per-song metrics",
     "10_personalised"),
    ("personal_quoted", "personalised dynamic MER: DSAML's claims as the text at hand words them (it reports no "
     "numbers), quoted, never beside ours", "10_personalised"),
    # the four tables of `damer-lite personal` (rule personal_mer), shown by 10_personalised
    (r"personal_[^_]+(_tasks|_paired|_runs)?$", "personalised dynamic MER: the k-shot curve (global, finetune, "
     "first-order MAML, shrunk offset, average-listener oracle, oracle) over held-out annotators; _tasks per "
     "(seed, annotator), _paired vs the global model, _runs timings (written by `damer-lite personal`)",
     "10_personalised"),
    ("your_music_va", "predictions on the V-A plane (probabilities, not ratings)", "08_your_music"),
    ("your_music_ids", "short ids #1..#n of the predicted files: file, span, P, 2P-1 and the static labels where "
     "they exist", "08_your_music"),
    ("your_music_timeline_agreement", "window predictions vs the raters' curve averaged over the same windows: "
     "sign agreement and Spearman rho per file and pooled", "08_your_music"),
    ("your_music_timeline", "windowed predictions over one track", "08_your_music"),
    ("your_music_predictions", "predictions per track and window", "08_your_music"),
    ("reliability_", "reliability diagrams of the exported checkpoints, raw vs temperature-calibrated, on the "
     "validation share (T fitted) and the test split (scored only)", "08_your_music"),
    ("fig5_pcl_dynamics", "Fig. 5 analogue: PCL confidence, reliability, mask ratio, schedules", "06_dynamics"),
    ("fig6_saml_dynamics", "Fig. 6 analogue: queue entropy, class coverage, centroid distances", "06_dynamics"),
    ("dynamics_summary", "final-epoch PCL/SAML statistics", "06_dynamics"),
    ("pcl_saturation", "per seed: the first epoch where θ_t < r̄/2 (with two classes c ≥ r/2, so every sample "
     "passes) and the epochs where PCL's mask ratio first reaches 1 and from which it stays 1", "06_dynamics"),
    ("fig7_tsne", "Fig. 7 analogue: t-SNE of fused features before and after training", "07_tsne"),
    ("tsne_separation", "class separation of the fused features before and after training", "07_tsne"),
    ("dynamic_rater_curves", "dynamic MER: per-rater per-second curves with their mean ± sd, three tracks from "
     "the most to the least agreed-on", "09_dynamic"),
    ("dynamic_rater_spread", "dynamic MER: per track, the per-second sd between raters averaged over time",
     "09_dynamic"),
    ("dynamic_lag_raters", "dynamic MER, SynthMemo: each simulated rater's lag (vs latent curve, vs audio level) "
     "beside what its simulated time constant implies", "09_dynamic"),
    ("dynamic_lag", "dynamic MER: response lag of the arousal ratings behind the audio level (pooled profile, "
     "per-track peaks)", "09_dynamic"),
    ("dynamic_ccc_vs_rmse", "worked example: what CCC rewards that RMSE does not", "09_dynamic"),
    ("dynamic_results", "dynamic MER: RMSE / PCC / CCC per model and dimension, mean ± sd over seeds (formatted)",
     "09_dynamic"),
    (r"dynamic_[^_]+_paired$", "dynamic MER: each baseline − dual_scale paired by seed (same split): mean, 95 % "
     "t-interval, minimum detectable difference at 80 % power, t test p (written by `damer-lite dynamic`)",
     "09_dynamic"),
    ("dynamic_predicted_vs_annotated", "dynamic MER: predicted vs annotated curves of test songs (showcase seed)",
     "09_dynamic"),
    ("dynamic_quoted", "dynamic MER: RMSEs quoted from the literature (DEAM, PMEmo), for scale only, never "
     "compared with ours", "09_dynamic"),
    # the two tables of `damer-lite dynamic` (rule dynamic_mer), shown by 09_dynamic: patterns, not prefixes
    (r"dynamic_[^_]+_seeds$", "dynamic MER: per-step V/A regression, one row per model, seed and dimension "
     "(written by `damer-lite dynamic`)", "09_dynamic"),
    (r"dynamic_[^_]+$", "dynamic MER: per-step V/A regression, RMSE / PCC / CCC mean ± sd over seeds per model "
     "and dimension (written by `damer-lite dynamic`)", "09_dynamic"),
]


def describe(stem: str) -> tuple[str, str]:
    for prefix, what, nb in KNOWN:
        if re.match(prefix, stem):
            return what, nb
    return "", ""


def build(results: Path, profile: str, datasets: list[str]) -> str:
    cmd = "make results" if profile == "quick" else f"snakemake --cores N --config profile={profile}"
    n_runs, n_semi = (sum(1 for _ in (results / d).rglob("run.json")) if (results / d).exists() else 0
                      for d in ("runs", "runs_semi"))
    lines = [
        "# Results",
        "",
        f"Every file below was written by the pipeline: `{cmd}` (Snakemake profile `{profile}`), datasets: "
        f"{', '.join(datasets)}. Do not edit them by hand; re-run the command instead. Numbers measured on "
        "SynthMemo are this project's own and are not comparable to the paper's (which are quoted, and "
        "marked as quoted, in `paper_vs_ours`, `table1_datasets` and `dynamic_quoted`; `personal_quoted` holds "
        "DSAML's claims, which the text at hand states without numbers).",
        "",
        f"Training runs: {n_runs} run folders under `runs/<dataset>/<target>/<configuration>/seed<k>/`, and "
        f"{n_semi} of the semi-supervised protocol (part of the training labels hidden) under `runs_semi/`. "
        "Each holds `run.json` and `metrics.json`; the neural models also `history.json` and `config.json` "
        "(the scikit-learn baselines have no training config). The showcase run (DAMER, showcase seed) also "
        "holds its executed `04_training.ipynb`; the other cells are trained by `damer-lite grid`. The checkpoints "
        "in `checkpoints/` are exported from their own runs under `runs_export/` (full DAMER, showcase seed, the "
        "same test split, trained without a validation share on which the temperature is fitted).",
        "",
    ]
    n_dyn = sum(1 for _ in (results / "runs_dynamic").rglob("run.json")) if (results / "runs_dynamic").exists() else 0
    if n_dyn:
        lines += [f"Dynamic MER (per-step valence/arousal, docs/dmer.md): {n_dyn} run folders under "
                  "`runs_dynamic/<dataset>/<model>/seed<k>/` (`damer-lite dynamic`), each with `run.json`, "
                  "`metrics.json` and `predictions.csv.gz` (every test song's annotated and predicted curve, "
                  "from which the `dynamic_*` tables can be recomputed).", ""]
    for kind, exts in (("tables", (".md", ".csv")), ("figures", (".png", ".pdf"))):
        folder = results / kind
        stems = sorted({p.stem for p in folder.glob("*") if p.suffix in exts}) if folder.exists() else []
        lines += [f"## {kind.capitalize()}", "", "| file | what | notebook |", "|---|---|---|"]
        for stem in stems:
            what, nb = describe(stem)
            files = " · ".join(f"[{stem}{e}]({kind}/{stem}{e})" for e in exts if (folder / f"{stem}{e}").exists())
            lines.append(f"| {files} | {what} | {nb} |")
        lines.append("")
    cks = sorted((results / "checkpoints").glob("*.pt")) if (results / "checkpoints").exists() else []
    if cks:
        lines += ["## Checkpoints", "", "`{dataset}_{target}.pt`: full DAMER of the showcase seed per (dataset, "
                  "target), for `damer-lite predict`; `{dataset}_dynamic.pt`: the dual-scale dynamic model of the "
                  "showcase seed, for `damer-lite predict --dynamic` (see docs/predict.md):", ""]
        lines += [f"- [{p.name}](checkpoints/{p.name})" for p in cks]
        lines.append("")
    nbs = sorted((results / "notebooks").glob("*.ipynb")) if (results / "notebooks").exists() else []
    lines += ["## Executed notebooks", "",
              "Rendered with their figures, typeset equations and audio players in the companion site, "
              "`site/index.html` (built by `make site`, the last step of `make results`; it works offline).", ""]
    lines += [f"- [{p.name}](notebooks/{p.name})" for p in nbs]
    summary = _metrics_summary(results)
    if summary:
        lines += ["", "## Headline (fused head, test accuracy, mean ± sample sd over seeds)", "", *summary]
    return "\n".join(lines) + "\n"


def _metrics_summary(results: Path) -> list[str]:
    from damer_lite.experiments.runs import collect

    df = collect(results / "runs") if (results / "runs").exists() else None
    if df is None or df.empty:
        return []
    full = df[(df["configuration"] == "damer") & df["primary"]]
    out = []
    for (ds, tgt), g in full.groupby(["dataset", "target"]):
        out.append(f"- {ds} · {tgt}: DAMER ACC {100 * g['acc'].mean():.1f} ± {100 * g['acc'].std(ddof=1):.1f} "
                   f"({len(g)} seeds)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="results")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--datasets", default="synthmemo")
    args = ap.parse_args(argv)
    results = Path(args.results)
    text = build(results, args.profile, [d for d in args.datasets.split(",") if d])
    tmp = results / "README.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, results / "README.md")
    print(json.dumps({"written": str(results / "README.md")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
