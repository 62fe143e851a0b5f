# damer-lite pipeline: SynthMemo (and any real dataset configured) -> features -> one papermill execution
# of notebooks/04_training.ipynb per (dataset, target, configuration, seed) -> aggregate notebooks ->
# results/.   snakemake --cores N [--config profile=smoke|quick|paper]   (snakemake -n lists the jobs)

from snakemake.utils import validate


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"{RESULTS}/README.md",
