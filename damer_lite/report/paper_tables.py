"""Numbers QUOTED from the paper (arXiv 2512.13998), for side-by-side tables. Never mixed with ours.

Every table built from these constants carries a `source` column saying "paper (quoted)".
"""

from __future__ import annotations

import pandas as pd

SOURCE = "paper (quoted)"

# Table I: popular music emotion datasets.
TABLE_I = [
    ("1000songs", "1000", "Valence, Arousal", "yes", "crowd-sourcing"),
    ("AMG1608", "1608", "valence, arousal", "no", "crowd-sourcing"),
    ("VGMIDI", "200 MIDI pieces", "valence", "yes", "crowd-sourcing"),
    ("EMOPIA", "387 (1087 clips)", "Russell's 4Q", "yes", "piano covers"),
    ("TROMPA-MER", "1161", "Valence, Arousal", "Downloadable", "Public"),
    ("PMEmo", "794", "Valence, Arousal and EDA", "yes", "crowd-sourcing"),
    ("Memo2496", "2496", "Valence, Arousal", "yes", "Certified Musical Specialist"),
]

# Tables II-IV: ACC / F1 / AUC (%) of DAMER and the strongest published baseline per dataset.
# (model, dataset) -> (arousal acc, f1, auc, valence acc, f1, auc)
TABLES_II_IV = {
    ("SVM", "memo2496"): (66.83, 58.34, 65.96, 70.48, 79.64, 59.69),
    ("MCGC-net", "memo2496"): (79.52, 72.44, 78.09, 78.61, 87.07, 68.29),
    ("DAMER", "memo2496"): (82.95, 80.70, 90.21, 78.34, 84.72, 83.31),
    ("SVM", "emomusic"): (59.85, 64.89, 60.82, 53.39, 53.41, 58.77),
    ("MCGC-net", "emomusic"): (79.03, 84.49, 78.21, 70.05, 79.42, 66.59),
    ("DAMER", "emomusic"): (81.28, 82.32, 89.15, 70.74, 72.79, 77.28),
    ("SVM", "pmemo"): (49.06, 59.42, 53.11, 53.93, 64.83, 50.91),
    ("MCGC-net", "pmemo"): (85.81, 91.42, 75.12, 75.42, 85.11, 69.81),
    ("DAMER", "pmemo"): (85.98, 90.58, 74.33, 77.61, 85.54, 79.71),
}

# Table V: ablation accuracies (%). The extracted table's check marks are garbled; the row order
# follows the text of §V-C: DSAF, PCL, SAML, DSAF+PCL, PCL+SAML, DSAF+SAML, all three.
# configuration -> (memo2496 A, V, 1000songs A, V, pmemo A, V)
TABLE_V = {
    "dsaf": (80.94, 77.40, 79.02, 69.51, 84.44, 75.50),
    "pcl": (80.58, 77.34, 78.69, 69.42, 83.01, 75.06),
    "saml": (78.38, 75.79, 78.14, 68.46, 82.95, 74.23),
    "dsaf+pcl": (81.89, 77.07, 80.67, 70.34, 85.78, 77.10),
    "pcl+saml": (81.61, 74.61, 81.03, 69.49, 83.78, 76.03),
    "dsaf+saml": (81.08, 75.59, 79.36, 69.55, 84.23, 74.09),
    "damer": (82.95, 78.34, 81.28, 70.93, 85.98, 77.61),
}


def table_i() -> pd.DataFrame:
    df = pd.DataFrame(TABLE_I, columns=["dataset", "songs", "labels", "raw audio", "annotators"])
    df["source"] = SOURCE
    return df


def table_v() -> pd.DataFrame:
    rows = []
    for cfg, vals in TABLE_V.items():
        for (ds, tgt), acc in zip(
            [(d, t) for d in ("memo2496", "emomusic", "pmemo") for t in ("arousal", "valence")], vals, strict=True
        ):
            rows.append({"configuration": cfg, "dataset": ds, "target": tgt, "acc": acc, "source": SOURCE})
    return pd.DataFrame(rows)


def tables_ii_iv() -> pd.DataFrame:
    rows = []
    for (model, ds), v in TABLES_II_IV.items():
        for tgt, (acc, f1, auc) in (("arousal", v[:3]), ("valence", v[3:])):
            rows.append({"model": model, "dataset": ds, "target": tgt, "acc": acc, "f1": f1, "auc": auc,
                         "source": SOURCE})
    return pd.DataFrame(rows)
