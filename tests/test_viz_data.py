"""Figures and display helpers of the data notebook (report.viz), against hand-made annotators and labels."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from damer_lite.report import viz  # noqa: E402


def annotators():
    return pd.DataFrame({
        "annotator_id": ["A01", "A02", "A03"],
        "sex": ["F", "M", "F"],
        "age": [18, 21, 21],
        "instrument": ["piano", "piano", "erhu"],
        "calibration_distances": ["0.1000", "0.5703;0.3317;0.1337", "0.3000;0.2500"],
    })


def test_calibration_rounds_one_row_per_round():
    r = viz.calibration_rounds(annotators(), 0.25)
    assert r["annotator_id"].tolist() == ["A01", "A02", "A02", "A02", "A03", "A03"]
    assert r["round"].tolist() == [1, 1, 2, 3, 1, 2]
    assert r["passed"].tolist() == [True, False, False, True, False, True]  # 0.25 itself passes (≤)


def test_calibration_marks_every_failed_round_and_keeps_the_legend_outside():
    fig = viz.calibration(annotators(), 0.25)
    ax = fig.axes[0]
    failed = [c for c in ax.collections if c.get_label().startswith("failed round")][0]
    # A02's two failed rounds (x = 1) and A03's first (x = 2)
    np.testing.assert_allclose(failed.get_offsets(), [[1, 0.5703], [1, 0.3317], [2, 0.3]])
    assert failed.get_label().startswith("failed round (3)")
    assert sorted(t.get_text() for t in ax.texts) == ["r1", "r1", "r2"]
    assert "n = 3 annotators" in ax.get_title() and "2 retrained" in ax.get_title()
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend.x0 >= axes_box.x1  # entirely to the right of the axes: it hides no point
    assert ax.get_ylim()[1] > 0.5703
    plt.close(fig)


def test_annotator_profile_integer_count_ticks_and_n():
    fig = viz.annotator_profile(annotators())
    for ax in fig.axes:
        ticks = ax.get_yticks()
        np.testing.assert_array_equal(ticks, np.round(ticks))
    assert "n = 3: 1 M / 2 F" in fig.axes[0].get_title()
    heights = sorted(p.get_height() for p in fig.axes[1].patches)  # ages 18, 21, 21 in 1-year bins 18..21
    assert heights == [0, 0, 1, 2]
    plt.close(fig)


def test_label_distributions_integer_ticks_and_n():
    df = pd.DataFrame({"valence": [-0.5, 0.2, 0.3], "arousal": [0.1, 0.1, -0.9]})
    fig = viz.label_distributions(df)
    np.testing.assert_array_equal(fig.axes[0].get_yticks(), np.round(fig.axes[0].get_yticks()))
    assert fig._suptitle.get_text() == "n = 3 tracks"
    assert fig.axes[0].get_title().startswith("valence: 67% above 0")
    plt.close(fig)


def test_dash_missing():
    df = pd.DataFrame({"name": ["a", "b"], "x": [0.12345, np.nan], "y": [0.0, 2.0]})
    out = viz.dash_missing(df)
    assert out["x"].tolist() == [0.123, "—"]
    assert out["y"].tolist() == [0.0, 2.0]  # a defined zero stays
    assert np.isnan(df.loc[1, "x"])  # the input is left as it is
