"""Agreement figures QUOTED from the music-emotion literature, beside which SynthMemo's simulated raters are
calibrated (`datasets.annotation.INTERPRETATION_SD`, `AMBIGUITY_SHAPE`). Never mixed with ours: every row
carries a `source` column, and our measurements sit in their own rows.

Only figures whose text was read are listed; the per-dataset coefficients of DEAM, PMEmo, 1000 songs and
AMG1608 are not here because their papers' agreement sections could not be read for this project (see
docs/paper_notes.md, "SynthMemo's raters").
"""

from __future__ import annotations

import pandas as pd

SOURCE = "literature (quoted)"

# (study, raters, statistic, valence, arousal, both, reference)
PUBLISHED_AGREEMENT = [
    ("Schubert (2013), continuous V-A ratings of 4 pieces, test and retest", "listeners in a study",
     "sd between raters, share of the scale's range", "", "", 0.122,
     "Psychology of Music, doi:10.1177/0305735611430079 (abstract: 'average standard deviations for ratings "
     "collapsed across dimension, stimulus and conditions was 12.2% of the ratings scale range')"),
    ("Schubert (2013), same study", "listeners in a study", "test-retest Pearson r, which dimension is higher",
     "lower", "higher", "",
     "doi:10.1177/0305735611430079 (abstract: 'better test-retest reliability for arousal responses than for "
     "valence')"),
    ("Song (PhD thesis, QMUL), §4.5.1, 54 online listeners, popular music", "crowd (online)",
     "Fleiss' kappa of V-A ratings mapped to quadrants", "", "", 0.25,
     "Y. Song, 'Perceived and induced emotion responses to popular music' (thesis chapter 4, experiment 2)"),
]


def published_agreement() -> pd.DataFrame:
    """The quoted figures, one row per statistic, with source 'literature (quoted)'."""
    cols = ["study", "raters", "statistic", "valence", "arousal", "both", "reference"]
    return pd.DataFrame(PUBLISHED_AGREEMENT, columns=cols).assign(source=SOURCE)


def agreement_beside_published(ours: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Our agreement (`datasets.agreement.static_agreement`) in the rows of the quoted statistics: the
    per-second sd between raters as a share of the range, and Fleiss' kappa of the quadrants; source
    'ours (measured)'. The quoted rows come first; nothing is averaged across sources."""
    by = ours.set_index("dimension")
    sd = by["per_second_sd_share_of_range"]
    mine = pd.DataFrame([
        {"study": f"{dataset}: simulated raters", "raters": "simulated experts (20 per track)",
         "statistic": "sd between raters, share of the scale's range", "valence": round(float(sd["valence"]), 3),
         "arousal": round(float(sd["arousal"]), 3),
         "both": round(float((sd["valence"] + sd["arousal"]) / 2), 3), "reference": "this run"},
        {"study": f"{dataset}: simulated raters", "raters": "simulated experts (20 per track)",
         "statistic": "Fleiss' kappa of the raters' binary labels (track mean > 0)",
         "valence": round(float(by.loc["valence", "fleiss_kappa_label"]), 3),
         "arousal": round(float(by.loc["arousal", "fleiss_kappa_label"]), 3), "both": "", "reference": "this run"},
        {"study": f"{dataset}: simulated raters", "raters": "simulated experts (20 per track)",
         "statistic": "Fleiss' kappa of V-A ratings mapped to quadrants", "valence": "", "arousal": "",
         "both": round(float(by.loc["quadrant", "fleiss_kappa_label"]), 3), "reference": "this run"},
    ]).assign(source="ours (measured)")
    return pd.concat([published_agreement(), mine], ignore_index=True)


# Dynamic MER (per-step V-A regression): orientation numbers for scale only, on other datasets, models and
# protocols than ours (docs/dmer.md, "Orientation numbers"). (dataset, model, RMSE arousal, RMSE valence,
# label scale). PMEmo's figures are on its [0, 1] scale: on our [-1, 1] scale an RMSE doubles.
DYNAMIC_RMSE_QUOTED = [
    ("DEAM (dynamic)", "CRNN", 0.202, 0.268, "[-1, 1]"),
    ("PMEmo (dynamic)", "SVR (RBF)", 0.128, 0.131, "[0, 1]"),
]
DYNAMIC_NOTE = ("quoted for scale only: another dataset, model and protocol than ours; never compare it with "
                "our numbers as if in one table")


def dynamic_rmse_quoted() -> pd.DataFrame:
    """The quoted dynamic-MER RMSEs, one row per (dataset, model), source 'literature (quoted)'."""
    df = pd.DataFrame(DYNAMIC_RMSE_QUOTED,
                      columns=["dataset", "model", "rmse_arousal", "rmse_valence", "label_scale"])
    return df.assign(source=SOURCE, note=DYNAMIC_NOTE)
