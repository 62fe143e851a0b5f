# Data: SynthMemo generation and feature extraction (one resumable feature store per dataset).


rule synth:
    output:
        f"{DATA}/synthmemo_{{size}}/synth_truth/params.json",
    log:
        f"{RESULTS}/logs/synth_{{size}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        out=lambda w, output: Path(output[0]).parents[1],
        size=lambda w: SYNTH_SIZES[w.size],  # a changed size re-runs the rule (Snakemake's params trigger)
    threads: FEATURE_THREADS  # tracks rendered in parallel (same files for any number of processes)
    shell:
        "damer-lite synth --out {params.out} --size {wildcards.size} --workers {threads} > {log} 2>&1"


rule features:
    input:
        lambda w: dataset_ready(w.dataset),
    output:
        f"{FEATURES}/{{dataset}}-{{fhash}}/index.csv",
    log:
        f"{RESULTS}/logs/features_{{dataset}}-{{fhash}}.log",
    conda:
        "../envs/damer-lite.yaml"
    params:
        root=lambda w: DATASETS[w.dataset],
        profile=P["features"],
        features=lambda w, output: features_of(output[0]),
    threads: FEATURE_THREADS
    resources:
        mem_mb=8000,
    shell:
        "damer-lite features --dataset {wildcards.dataset} --root {params.root} --out {params.features} "
        "--profile {params.profile} --workers {threads} > {log} 2>&1"
