# Settings derived from the config, and the helper functions the rules use.

from pathlib import Path

from damer_lite.config import SKLEARN_BASELINES
from damer_lite.datasets.synth import DESIGN_TEST_SIZE
from damer_lite.datasets.synth import SIZES as SYNTH_SIZES
from damer_lite.features.config import feature_profile
from damer_lite.features.store import store_dir

PROFILE = config["profile"]
P = config["profiles"][PROFILE]
# Each profile writes its own folder, so that a smoke or paper run never mixes into the committed quick results:
# results_dir null = results/ for quick (`make results`), results_<profile>/ for the others.
RESULTS = config["results_dir"] or ("results" if PROFILE == "quick" else f"results_{PROFILE}")
DATA = config["data_dir"]
DEVICE = config.get("device") or "None"
# GPUs a training job asks the scheduler for: none when the config's device is cpu (the CPU-only cluster
# route, `--config device=cpu`), else one (`--gpus=1` under SLURM; no effect on a local run)
GPU = 0 if DEVICE == "cpu" else 1

# CPUs the feature job would like (its worker processes); a local run scales this down to --cores, a cluster
# run to the profile's `cores` (the most CPUs one job may ask for)
FEATURE_THREADS = 16
FEATURES = f"{DATA}/features"
NB_OUT = f"{RESULTS}/notebooks"
NOTEBOOK_SH = "workflow/scripts/notebook.sh"
PAPERMILL_SH = "workflow/scripts/papermill.sh"  # papermill, retried when two kernels race for a port


def present_datasets():
    """name -> root of every dataset that joins the grid; absent ones are skipped with a message."""
    out = {}
    for name, d in config["datasets"].items():
        root = d.get("root")
        if name == "synthmemo":
            if d.get("enabled", True):
                out[name] = root or f"{DATA}/synthmemo_{P['synth_size']}"
        elif root and Path(root).is_dir():
            out[name] = root
        elif root:
            print(f"damer-lite: dataset {name}: root {root} is not a folder; skipped")
        else:
            print(f"damer-lite: dataset {name}: no root configured; skipped (data absent)")
    return out


DATASETS = present_datasets()
FCFG = feature_profile(P["features"])
STORES = {name: store_dir(FEATURES, name, FCFG).name for name in DATASETS}
MODELS = config["configurations"] + config["baselines"]
SEEDS = P["seeds"]
SHOW = P["showcase_seed"]
FIRST = next(iter(DATASETS))


def test_size(dataset):
    """The dataset's test split per seed: config `datasets.<name>.test_size`; when null or absent, SynthMemo's
    design for its size (quick: 600 test tracks of 810, smoke: 0.3) and 0.3 (the paper's 70/30) elsewhere."""
    value = (config["datasets"].get(dataset) or {}).get("test_size")
    if value is None and dataset == "synthmemo":
        value = DESIGN_TEST_SIZE.get(P["synth_size"])
    return 0.3 if value is None else value


def run_dir(dataset, target, model, seed, runs="runs"):
    return f"{RESULTS}/{runs}/{dataset}/{target}/{model}/seed{seed}"


# Grid cells are trained by `damer-lite grid`: one job per (dataset, target, configuration) runs its seeds in one
# process, `seeds_per_job` at a time (null: all of them; 1 on a cluster gives one job per cell). The showcase cell
# (DAMER, showcase seed) is executed through notebook 04 instead.
GRID_SEEDS = {m: [s for s in SEEDS if not (m == "damer" and s == SHOW)] for m in MODELS}
SEMI = P["semi"]
SEMI_MODELS = config["configurations"] + config["semi_baselines"]


def seed_chunks(seeds, per_job=P.get("seeds_per_job")):
    """[[seeds of job 1], ...]: all seeds in one job, or `per_job` at a time."""
    if not per_job:
        return [list(seeds)] if seeds else []
    return [list(seeds[i : i + per_job]) for i in range(0, len(seeds), per_job)]


def _grid_jobs(prefix, runs, models, seeds_of, protocol):
    jobs = []
    for m in models:
        chunks = seed_chunks(seeds_of(m))
        for chunk in chunks:
            part = "_seed" + "_".join(str(s) for s in chunk) if len(chunks) > 1 else ""
            name = f"{prefix}{m.replace('+', '_')}{part}"
            jobs.append((name, runs, m, chunk, protocol, 0 if m in SKLEARN_BASELINES else GPU, part))
    return jobs


# (rule name, runs folder below RESULTS, configuration, seeds, protocol arguments of `damer-lite grid`, GPUs,
#  the log name's seed part)
GRID_JOBS = _grid_jobs("train_", "runs", MODELS, lambda m: GRID_SEEDS[m], "--protocol full") + _grid_jobs(
    "train_semi_", "runs_semi", SEMI_MODELS, lambda m: SEMI["seeds"],
    f"--protocol semi --hidden-fraction {SEMI['hidden_fraction']}",
)


def results_of(notebook_path):
    """The results folder of an executed notebook RESULTS/notebooks/NAME.ipynb."""
    return str(Path(notebook_path).parents[1])


def features_of(index_csv):
    """The folder holding the feature stores, from a store's index.csv."""
    return str(Path(index_csv).parents[1])


def store_index(dataset):
    return f"{FEATURES}/{STORES[dataset]}/index.csv"


def dataset_ready(name):
    """The file that proves dataset `name` is on disk: SynthMemo's params.json, else the root folder."""
    if name == "synthmemo":
        return f"{DATASETS[name]}/synth_truth/params.json"
    return DATASETS[name]


def showcase_runs(dataset):
    return [f"{run_dir(dataset, t, 'damer', SHOW)}/run.json" for t in config["targets"]]


ALL_RUNS = [
    f"{run_dir(d, t, m, s)}/run.json" for d in DATASETS for t in config["targets"] for m in MODELS for s in SEEDS
]
# the semi-supervised Table V analogue (a share of the training labels hidden), SynthMemo only
SEMI_RUNS = (
    [
        f"{run_dir('synthmemo', t, m, s, 'runs_semi')}/run.json"
        for t in config["targets"]
        for m in SEMI_MODELS
        for s in SEMI["seeds"]
    ]
    if "synthmemo" in DATASETS
    else []
)
NOTEBOOKS = [
    f"{NB_OUT}/{nb}_{d}.ipynb"
    for nb in ("01_data", "02_features", "04_training", "06_dynamics", "07_tsne")
    for d in DATASETS
] + [f"{NB_OUT}/03_model_{FIRST}.ipynb", f"{NB_OUT}/05_ablation.ipynb"]
# the "your music" notebook predicts SynthMemo's own audio with the exported SynthMemo checkpoints
if "synthmemo" in DATASETS:
    NOTEBOOKS.append(f"{NB_OUT}/08_your_music_synthmemo.ipynb")
# dynamic MER (per-step valence/arousal): the profile's datasets that are present
DYN = P["dynamic"]
DYNAMIC_DATASETS = [d for d in DYN["datasets"] if d in DATASETS]
DYNAMIC_TABLES = [f"{RESULTS}/tables/dynamic_{d}.csv" for d in DYNAMIC_DATASETS]
DYNAMIC_CHECKPOINTS = [f"{RESULTS}/checkpoints/{d}_dynamic.pt" for d in DYNAMIC_DATASETS]
# personalised dynamic MER (tasks by annotator): the profile's datasets that are present
PERS = P["personal"]
PERSONAL_DATASETS = [d for d in PERS["datasets"] if d in DATASETS]
PERSONAL_TABLES = [f"{RESULTS}/tables/personal_{d}.csv" for d in PERSONAL_DATASETS]
NOTEBOOKS += [f"{NB_OUT}/10_personalised_{d}.ipynb" for d in PERSONAL_DATASETS]
NOTEBOOKS += [f"{NB_OUT}/09_dynamic_{d}.ipynb" for d in DYNAMIC_DATASETS]
# beyond-the-paper experiments need SynthMemo's per-track style
EXTRAS = (
    [f"{RESULTS}/tables/label_efficiency_synthmemo.csv", f"{RESULTS}/tables/style_shift_synthmemo.csv"]
    if "synthmemo" in DATASETS
    else []
) + ([f"{RESULTS}/tables/cross_dataset.csv"] if len(DATASETS) >= 2 else [])


# Priorities of the grid jobs: label efficiency reads the grid's damer and dsaf+saml runs, so those go first
# (it then starts early); the others longest first (the SAML configurations ~90 s per job of 5 seeds on one
# core, the other neural ones ~65 s, the transformers ~40 s, the semi-supervised ones ~20-50 s, scikit-learn
# ~3 s), so that the last minutes of a run are not one long job on one core while the other idles.
# Short jobs (notebooks, checkpoint exports, the results index, the scikit-learn baselines: seconds each) run as soon
# as their inputs exist: ahead of every training job that is ready at the same time, so that they fill the grid's
# gaps instead of queueing behind it and trailing after the last training job.
SHORT_JOB_PRIORITY = 60


def grid_priority(runs: str, model: str) -> int:
    if model in ("svm", "concat_linear"):  # scikit-learn: a few seconds per job
        return SHORT_JOB_PRIORITY
    if runs == "runs":
        if model in ("damer", "dsaf+saml"):
            return 40
        return {"saml": 20, "pcl+saml": 20, "dsaf": 15, "pcl": 15, "dsaf+pcl": 15,
                "mel_transformer": 10, "coch_transformer": 10}.get(model, 0)
    semi_pcl = {"damer": 8, "pcl+saml": 8, "pcl": 8, "dsaf+pcl": 8}  # pseudo-labelled pool: twice the steps
    return semi_pcl.get(model, 5 if model in config["configurations"] else 0)
