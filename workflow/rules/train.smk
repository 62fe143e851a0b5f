# Training. Every grid cell but the showcase runs through `damer-lite grid` (all seeds of one configuration in
# one process, no notebook kernel); the showcase cell (DAMER, showcase seed) is a papermill execution of
# notebooks/04_training.ipynb, whose curves notebook 04 shows.


rule train_showcase:
    priority: 40  # a grid cell that label efficiency reads (DAMER, showcase seed)
    input:
        store=lambda w: store_index(w.dataset),
        notebook="notebooks/04_training.ipynb",
    output:
        run=f"{RESULTS}/runs/{{dataset}}/{{target}}/{{model}}/seed{{seed}}/run.json",
        notebook=f"{RESULTS}/runs/{{dataset}}/{{target}}/{{model}}/seed{{seed}}/04_training.ipynb",
    log:
        f"{RESULTS}/logs/train/{{dataset}}_{{target}}_{{model}}_seed{{seed}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        run_dir=lambda w, output: Path(output.run).parent,
        features=lambda w, input: features_of(input.store),
        feature_profile=P["features"],
        train_profile=P["train"],
        device=DEVICE,
        test_size=lambda w: test_size(w.dataset),
        papermill=PAPERMILL_SH,
    wildcard_constraints:
        model="damer",
        seed=str(SHOW),
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "bash {params.papermill} {input.notebook} {output.notebook} --cwd . --no-progress-bar "
        "-p dataset {wildcards.dataset} -p root {params.root} -p features_dir {params.features} "
        "-p feature_profile {params.feature_profile} -p train_profile {params.train_profile} "
        "-p target {wildcards.target} -p test_size {params.test_size} "
        "-p configuration '{wildcards.model}' -p seed {wildcards.seed} -p run_dir {params.run_dir} "
        "-p device {params.device} > {log} 2>&1 && python -m damer_lite.report.relpaths {output.notebook}"


# One job per (dataset, target, configuration) of each protocol and chunk of seeds (`seeds_per_job`): its seeds in
# one `damer-lite grid` process.
# Priorities: `grid_priority` (rules/common.smk), longest first.
for job_name, job_runs, job_model, job_seeds, job_protocol, job_gpu, job_part in GRID_JOBS:

    rule:
        name:
            job_name
        priority: grid_priority(job_runs, job_model)
        input:
            store=lambda w: store_index(w.dataset),
        output:
            [f"{RESULTS}/{job_runs}/{{dataset}}/{{target}}/{job_model}/seed{s}/run.json" for s in job_seeds],
        log:
            f"{RESULTS}/logs/{job_runs}/{{dataset}}_{{target}}_{job_model}{job_part}.log",
        conda:
            "../envs/damer-lite.yaml"
        params:
            runs=lambda w, output: Path(output[0]).parents[4],
            store=lambda w, input: Path(input.store).parent,
            profile=P["train"],
            model=job_model,
            seeds=" ".join(str(s) for s in job_seeds),
            device="" if DEVICE == "None" else f"--device {DEVICE}",
            protocol=job_protocol,
            test_size=lambda w: test_size(w.dataset),
        threads: 1
        resources:
            gpu=job_gpu,
            mem_mb=4000,
            runtime=240,
        shell:
            "python -m damer_lite grid --store {params.store} --runs {params.runs} --dataset {wildcards.dataset} "
            "--target {wildcards.target} --configuration '{params.model}' --seeds {params.seeds} "
            "--profile {params.profile} --test-size {params.test_size} {params.protocol} {params.device} > {log} 2>&1"


rule label_efficiency:
    # a long serial job: started early (priority), beside the grid. At fraction 1 its runs are the grid's damer
    # and dsaf+saml cells of the same seeds (read from there, not trained again), so it waits for those.
    priority: 50
    input:
        store=lambda w: store_index(w.dataset),
        grid_runs=lambda w: [f"{run_dir(w.dataset, t, m, s)}/run.json" for t in P["extras"]["targets"]
                             for m in ("damer", "dsaf+saml") for s in P["extras"]["seeds"] if s in SEEDS],
    output:
        f"{RESULTS}/tables/label_efficiency_{{dataset}}.csv",
    log:
        f"{RESULTS}/logs/label_efficiency_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        store=lambda w, input: Path(input.store).parent,
        results=lambda w, output: Path(output[0]).parents[1],
        runs=f"{RESULTS}/runs",
        profile=P["train"],
        targets=" ".join(P["extras"]["targets"]),
        fractions=" ".join(str(f) for f in P["extras"]["fractions"]),
        seeds=" ".join(str(s) for s in P["extras"]["seeds"]),
        test_size=lambda w: test_size(w.dataset),
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "python -m damer_lite experiments --only efficiency --store {params.store} --dataset {wildcards.dataset} "
        "--results {params.results} --profile {params.profile} --targets {params.targets} "
        "--fractions {params.fractions} --seeds {params.seeds} --test-size {params.test_size} "
        "--reuse-runs {params.runs} > {log} 2>&1"


rule style_shift:
    priority: 50
    input:
        store=lambda w: store_index(w.dataset),
    output:
        f"{RESULTS}/tables/style_shift_{{dataset}}.csv",
    log:
        f"{RESULTS}/logs/style_shift_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        store=lambda w, input: Path(input.store).parent,
        results=lambda w, output: Path(output[0]).parents[1],
        profile=P["train"],
        targets=" ".join(P["extras"]["targets"]),
        seeds=" ".join(str(s) for s in P["extras"]["seeds"]),
        styles=" ".join(config["style_shift_train"]),
        max_train=("" if config.get("style_shift_max_train") is None
                   else f"--max-train {config['style_shift_max_train']}"),
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "python -m damer_lite experiments --only shift --store {params.store} --dataset {wildcards.dataset} "
        "--results {params.results} --profile {params.profile} --targets {params.targets} "
        "--seeds {params.seeds} --train-styles {params.styles} {params.max_train} > {log} 2>&1"


rule dynamic_mer:
    # dynamic MER: the dual-scale regressor, DAMER's encoder with a per-step head and the per-frame ridge baseline,
    # same track-level splits, every seed of the profile's `dynamic` entry, in one process (docs/dmer.md)
    priority: 30  # a long single-core job: started beside the grid, so that it does not trail at the end
    input:
        store=lambda w: store_index(w.dataset),
    output:
        table=f"{RESULTS}/tables/dynamic_{{dataset}}.csv",
        seeds=f"{RESULTS}/tables/dynamic_{{dataset}}_seeds.csv",
        showcase=f"{RESULTS}/runs_dynamic/{{dataset}}/dual_scale/seed{SHOW}/run.json",
    log:
        f"{RESULTS}/logs/dynamic_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        store=lambda w, input: Path(input.store).parent,
        results=lambda w, output: Path(output.table).parents[1],
        profile=DYN["train"],
        seeds=" ".join(str(s) for s in DYN["seeds"]),
        device="" if DEVICE == "None" else f"--device {DEVICE}",
        test_size=lambda w: test_size(w.dataset),
    wildcard_constraints:
        dataset=r"[^_/]+",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "python -m damer_lite dynamic --store {params.store} --dataset {wildcards.dataset} "
        "--results {params.results} --profile {params.profile} --seeds {params.seeds} --no-progress "
        "--test-size {params.test_size} {params.device} > {log} 2>&1"


rule personal_mer:
    # personalised dynamic MER: the k-shot curve (global, finetune, first-order MAML, oracle) over held-out
    # annotators, every seed of the profile's `personal` entry, in one process (docs/personalize.md)
    priority: 30  # the longest single-core job after the grid: started early, not at the end
    input:
        store=lambda w: store_index(w.dataset),
    output:
        table=f"{RESULTS}/tables/personal_{{dataset}}.csv",
        tasks=f"{RESULTS}/tables/personal_{{dataset}}_tasks.csv",
        paired=f"{RESULTS}/tables/personal_{{dataset}}_paired.csv",
        runs=f"{RESULTS}/tables/personal_{{dataset}}_runs.csv",
    log:
        f"{RESULTS}/logs/personal_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        store=lambda w, input: Path(input.store).parent,
        results=lambda w, output: Path(output.table).parents[1],
        profile=PERS["train"],
        seeds=" ".join(str(s) for s in PERS["seeds"]),
        device="" if DEVICE == "None" else f"--device {DEVICE}",
    wildcard_constraints:
        dataset=r"[^_/]+",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "python -m damer_lite personal --store {params.store} --dataset {wildcards.dataset} "
        "--results {params.results} --profile {params.profile} --seeds {params.seeds} --no-progress "
        "{params.device} > {log} 2>&1"


rule cross_dataset:
    input:
        stores=[store_index(d) for d in DATASETS],
    output:
        f"{RESULTS}/tables/cross_dataset.csv",
    log:
        f"{RESULTS}/logs/cross_dataset.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        pairs=lambda w, input: " ".join(f"{d}={Path(s).parent}" for d, s in zip(DATASETS, input.stores)),
        results=lambda w, output: Path(output[0]).parents[1],
        profile=P["train"],
        targets=" ".join(config["targets"]),
        seeds=" ".join(str(s) for s in P["extras"]["seeds"]),
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=240,
    shell:
        "python -m damer_lite experiments --cross {params.pairs} --results {params.results} "
        "--profile {params.profile} --targets {params.targets} --seeds {params.seeds} > {log} 2>&1"


rule export_run:
    priority: 45  # before most grid jobs: the checkpoints and the notebooks that read them follow it
    # The run a checkpoint is exported from: full DAMER, showcase seed, the grid's test split; trained on the
    # training split minus a stratified validation share (`calibration_val_fraction`) on which the fused head's
    # temperature is fitted after training (training.calibration). Model selection: the last epoch.
    input:
        store=lambda w: store_index(w.dataset),
    output:
        f"{RESULTS}/runs_export/{{dataset}}/{{target}}/damer/seed{SHOW}/run.json",
    log:
        f"{RESULTS}/logs/export_run_{{dataset}}_{{target}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        store=lambda w, input: Path(input.store).parent,
        out=lambda w, output: Path(output[0]).parent,
        profile=P["train"],
        val=config["calibration_val_fraction"],
        seed=SHOW,
        test_size=lambda w: test_size(w.dataset),
        device="" if DEVICE == "None" else f"--device {DEVICE}",
    wildcard_constraints:
        dataset=r"[^_/]+",
        target="arousal|valence",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=120,
    shell:
        "python -m damer_lite train --features {params.store} --target {wildcards.target} "
        "--profile {params.profile} --seed {params.seed} --test-size {params.test_size} --val-size {params.val} "
        "--set train.select=last "
        "--out {params.out} {params.device} > {log} 2>&1"


rule checkpoint:
    priority: SHORT_JOB_PRIORITY
    input:
        run=lambda w: f"{run_dir(w.dataset, w.target, 'damer', SHOW, 'runs_export')}/run.json",
        store=lambda w: store_index(w.dataset),
    output:
        f"{RESULTS}/checkpoints/{{dataset}}_{{target}}.pt",
    log:
        f"{RESULTS}/logs/checkpoint_{{dataset}}_{{target}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        runs=lambda w, input: Path(input.run).parents[4],
        store=lambda w, input: Path(input.store).parent,
        seed=SHOW,
    wildcard_constraints:
        dataset=r"[^_/]+",
        target="arousal|valence",
    shell:
        "python -m damer_lite.predict.checkpoint export --runs {params.runs} --store {params.store} "
        "--dataset {wildcards.dataset} --target {wildcards.target} --seed {params.seed} --out {output} > {log} 2>&1"


rule dynamic_checkpoint:
    priority: SHORT_JOB_PRIORITY
    # the dynamic checkpoint for `damer-lite predict --dynamic`: the dual_scale run of the showcase seed (fixed in
    # advance, not chosen by its test score), exported with its feature settings and model card
    input:
        run=f"{RESULTS}/runs_dynamic/{{dataset}}/dual_scale/seed{SHOW}/run.json",
        store=lambda w: store_index(w.dataset),
    output:
        f"{RESULTS}/checkpoints/{{dataset}}_dynamic.pt",
    log:
        f"{RESULTS}/logs/dynamic_checkpoint_{{dataset}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        run=lambda w, input: Path(input.run).parent,
        store=lambda w, input: Path(input.store).parent,
    wildcard_constraints:
        dataset=r"[^_/]+",
    shell:
        "python -m damer_lite.predict.dynamic export --run {params.run} --store {params.store} --out {output} "
        "> {log} 2>&1"
