"""Experiments stage: the grid of runs (`runs`), the ablations of Table V (`ablation`) and the experiments
beyond the paper (`label_efficiency`, `style_shift`, `cross_dataset`); run by `damer-lite experiments`."""
