# Aggregate notebooks (executed copies under results/notebooks/; `make site` renders them) and the results index.
# Each runs as soon as its inputs exist (SHORT_JOB_PRIORITY, rules/common.smk), beside the training grid, not
# in a tail after it.

rule notebook_data:
    priority: SHORT_JOB_PRIORITY
    input:
        data=lambda w: dataset_ready(w.dataset),
        notebook="notebooks/01_data.ipynb",
    output:
        notebook=f"{NB_OUT}/01_data_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/01_data_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        synth_size=P["synth_size"],
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p dataset {wildcards.dataset} -p root {params.root} -p synth_size {params.synth_size} "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_features:
    priority: SHORT_JOB_PRIORITY
    input:
        store=lambda w: store_index(w.dataset),
        notebook="notebooks/02_features.ipynb",
    output:
        notebook=f"{NB_OUT}/02_features_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/02_features_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        synth_size=P["synth_size"],
        features=lambda w, input: features_of(input.store),
        feature_profile=P["features"],
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p dataset {wildcards.dataset} -p root {params.root} -p synth_size {params.synth_size} "
        "-p features_dir {params.features} -p feature_profile {params.feature_profile} -p workers 1 "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_model:
    priority: SHORT_JOB_PRIORITY
    input:
        store=lambda w: store_index(w.dataset),
        notebook="notebooks/03_model.ipynb",
        # SynthMemo: the exported checkpoints, whose trained attention maps the notebook draws beside the
        # untrained ones; other datasets: none (checkpoint_dir none, untrained maps only)
        checkpoints=lambda w: (
            [f"{RESULTS}/checkpoints/{w.dataset}_{t}.pt" for t in config["targets"]] if w.dataset == "synthmemo" else []
        ),
    output:
        notebook=f"{NB_OUT}/03_model_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/03_model_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        synth_size=P["synth_size"],
        features=lambda w, input: features_of(input.store),
        feature_profile=P["features"],
        train_profile=P["train"],
        ckdir=lambda w, input: Path(input.checkpoints[0]).parent if input.checkpoints else "none",
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p dataset {wildcards.dataset} -p root {params.root} -p synth_size {params.synth_size} "
        "-p features_dir {params.features} -p feature_profile {params.feature_profile} "
        "-p train_profile {params.train_profile} -p checkpoint_dir {params.ckdir} "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_ablation:
    priority: SHORT_JOB_PRIORITY
    input:
        # the held-out error analysis: SynthMemo's exported checkpoints, the runs they were exported from (seed,
        # feature store), that store and the dataset (style, audio); skipped without SynthMemo
        **(
            {
                "checkpoints": [f"{RESULTS}/checkpoints/synthmemo_{t}.pt" for t in config["targets"]],
                "export_runs": [
                    f"{run_dir('synthmemo', t, 'damer', SHOW, 'runs_export')}/run.json" for t in config["targets"]
                ],
                "store": store_index("synthmemo"),
                "data": dataset_ready("synthmemo"),
            }
            if "synthmemo" in DATASETS
            else {}
        ),
        runs=ALL_RUNS,
        semi=SEMI_RUNS,
        extras=EXTRAS,
        dynamic=DYNAMIC_TABLES,  # paper_vs_ours carries the quoted dynamic-MER block once these exist
        notebook="notebooks/05_ablation.ipynb",
    output:
        notebook=f"{NB_OUT}/05_ablation.ipynb",
    log:
        f"{RESULTS}/logs/05_ablation.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        runs=lambda w, output: f"{results_of(output.notebook)}/runs",
        semi=lambda w, output: f"{results_of(output.notebook)}/runs_semi",
        results=lambda w, output: results_of(output.notebook),
        errors=lambda w, input, output: (
            f"-p error_dataset synthmemo -p root {DATASETS['synthmemo']} -p features_dir {features_of(input.store)} "
            f"-p checkpoint_dir {results_of(output.notebook)}/checkpoints "
            f"-p export_runs_dir {results_of(output.notebook)}/runs_export"
            if "synthmemo" in DATASETS
            else "-p error_dataset ''"
        ),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p runs_dir {params.runs} "
        "-p semi_runs_dir {params.semi} {params.errors} -p results_dir {params.results} > {log} 2>&1"

rule notebook_dynamics:
    priority: SHORT_JOB_PRIORITY
    input:
        # the showcase seed's dynamics, and every seed's for the PCL saturation table
        runs=lambda w: [f"{run_dir(w.dataset, t, 'damer', s)}/run.json" for t in config["targets"] for s in SEEDS],
        notebook="notebooks/06_dynamics.ipynb",
    output:
        notebook=f"{NB_OUT}/06_dynamics_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/06_dynamics_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        runs=lambda w, output: f"{results_of(output.notebook)}/runs",
        seed=SHOW,
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p runs_dir {params.runs} -p dataset {wildcards.dataset} -p seed {params.seed} "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_tsne:
    priority: SHORT_JOB_PRIORITY
    input:
        runs=lambda w: showcase_runs(w.dataset),
        notebook="notebooks/07_tsne.ipynb",
    output:
        notebook=f"{NB_OUT}/07_tsne_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/07_tsne_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        runs=lambda w, output: f"{results_of(output.notebook)}/runs",
        seed=SHOW,
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p runs_dir {params.runs} -p dataset {wildcards.dataset} -p seed {params.seed} "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_dynamic_mer:
    priority: SHORT_JOB_PRIORITY
    # dynamic MER (per-step valence/arousal): the raters' curves, their lag, the tables of rule dynamic_mer and
    # the showcase seed's predicted curves with the test songs' audio
    input:
        table=f"{RESULTS}/tables/dynamic_{{dataset}}.csv",
        seeds=f"{RESULTS}/tables/dynamic_{{dataset}}_seeds.csv",
        data=lambda w: dataset_ready(w.dataset),
        notebook="notebooks/09_dynamic.ipynb",
    output:
        notebook=f"{NB_OUT}/09_dynamic_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/09_dynamic_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        seed=SHOW,
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p dataset {wildcards.dataset} -p root {params.root} "
        "-p seed {params.seed} -p results_dir {params.results} > {log} 2>&1"

rule notebook_personal:
    priority: SHORT_JOB_PRIORITY
    # personalised dynamic MER: how the listeners differ, tasks by annotator and first-order MAML on a picture, the
    # k-shot tables of rule personal_mer, and one held-out listener of the showcase seed recomputed (one global fit
    # and one adaptation on the feature store)
    input:
        table=f"{RESULTS}/tables/personal_{{dataset}}.csv",
        tasks=f"{RESULTS}/tables/personal_{{dataset}}_tasks.csv",
        paired=f"{RESULTS}/tables/personal_{{dataset}}_paired.csv",
        store=lambda w: store_index(w.dataset),
        data=lambda w: dataset_ready(w.dataset),
        notebook="notebooks/10_personalised.ipynb",
    output:
        notebook=f"{NB_OUT}/10_personalised_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/10_personalised_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        features=lambda w, input: Path(input.store).parent,
        profile=PERS["train"],
        seed=SHOW,
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p dataset {wildcards.dataset} -p root {params.root} "
        "-p features_dir {params.features} -p profile {params.profile} -p seed {params.seed} "
        "-p results_dir {params.results} > {log} 2>&1"

rule notebook_training_showcase:
    priority: SHORT_JOB_PRIORITY
    input:
        lambda w: f"{run_dir(w.dataset, 'arousal', 'damer', SHOW)}/04_training.ipynb",
    output:
        notebook=f"{NB_OUT}/04_training_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/04_training_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    shell:
        "cp {input} {output.notebook} > {log} 2>&1"


rule results_index:
    priority: SHORT_JOB_PRIORITY
    input:
        NOTEBOOKS,
        DYNAMIC_TABLES,
        DYNAMIC_CHECKPOINTS,
        PERSONAL_TABLES,
    output:
        f"{RESULTS}/README.md",
    log:
        f"{RESULTS}/logs/results_index.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        datasets=",".join(DATASETS),
        results=lambda w, output: Path(output[0]).parent,
        profile=PROFILE,
    shell:
        "python -m damer_lite.report.results_index --results {params.results} --profile {params.profile} "
        "--datasets {params.datasets} > {log} 2>&1"


rule notebook_your_music:
    priority: SHORT_JOB_PRIORITY
    input:
        checkpoints=lambda w: [f"{RESULTS}/checkpoints/{w.dataset}_{t}.pt" for t in config["targets"]],
        data=lambda w: dataset_ready(w.dataset),
        notebook="notebooks/08_your_music.ipynb",
    output:
        notebook=f"{NB_OUT}/08_your_music_{{dataset}}.ipynb",
    log:
        f"{RESULTS}/logs/08_your_music_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        ckdir=lambda w, input: Path(input.checkpoints[0]).parent,
        audio=lambda w: f"{DATASETS[w.dataset]}/MusicRawData",
        results=lambda w, output: results_of(output.notebook),
        script=NOTEBOOK_SH,
    shell:
        "bash {params.script} {input.notebook} {output.notebook} -p checkpoint_dir {params.ckdir} "
        "-p dataset {wildcards.dataset} -p audio {params.audio} -p n_tracks 8 -p window_s 5.0 "
        "-p results_dir {params.results} > {log} 2>&1"
