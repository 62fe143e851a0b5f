"""One track's emotion over time and tracks to listen to (report.viz_curves), against hand computations."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from damer_lite.datasets import annotation  # noqa: E402
from damer_lite.report import viz_curves as vc  # noqa: E402


def test_fmt_dashes_undefined_numbers():
    assert vc.fmt(0.12345) == "0.12"
    assert vc.fmt(1.25, 1, signed=True) == "+1.2"
    assert vc.fmt(0.0) == "0.00"  # a defined zero stays a zero
    for undefined in (float("nan"), None, float("inf"), "n/a"):
        assert vc.fmt(undefined) == "—"


def test_quadrant_tracks_nearest_to_each_centre():
    m = pd.DataFrame({
        "track_id": ["a", "b", "c", "d", "e", "f", "g"],
        "valence": [0.4, 0.9, -0.5, -0.1, 0.3, 0.0, 0.6],
        "arousal": [0.6, 0.9, 0.5, -0.9, -0.3, 0.5, -0.6],
        "audio_path": [f"{t}.flac" for t in "abcdefg"],
        "window_start_s": [1.0] * 7,
    })
    q = vc.quadrant_tracks(m).set_index("quadrant")
    names = list(vc.QUADRANTS.values())  # Q1 .. Q4
    # Q1 (+,+): a at (0.4, 0.6) is sqrt(0.1² + 0.1²) = 0.1414 from (0.5, 0.5); b is sqrt(0.4² + 0.4²) = 0.566
    assert q.loc[names[0], "track_id"] == "a"
    assert q.loc[names[0], "distance"] == pytest.approx(math.sqrt(0.02))
    assert q.loc[names[0], "n_tracks"] == 2
    # Q2 (-,+): c exactly at (-0.5, 0.5); f has valence 0, which is the negative side (class 0), distance 0.5
    assert q.loc[names[1], "track_id"] == "c" and q.loc[names[1], "distance"] == pytest.approx(0.0)
    assert q.loc[names[1], "n_tracks"] == 2
    # Q3 (-,-): only d, sqrt(0.4² + 0.4²)
    assert q.loc[names[2], "track_id"] == "d" and q.loc[names[2], "distance"] == pytest.approx(math.sqrt(0.32))
    # Q4 (+,-): g at (0.6, -0.6) is 0.141 from (0.5, -0.5), e at (0.3, -0.3) is 0.283
    assert q.loc[names[3], "track_id"] == "g" and q.loc[names[3], "distance"] == pytest.approx(math.sqrt(0.02))
    assert q.loc[names[3], "audio_path"] == "g.flac"


def test_quadrant_tracks_empty_quadrant_and_ties():
    m = pd.DataFrame({"track_id": [1, 2], "valence": [0.5, 0.5], "arousal": [0.4, 0.6]})
    q = vc.quadrant_tracks(m)
    assert len(q) == 1  # three quadrants have no track: no row for them
    assert q.loc[0, "track_id"] == "1"  # equal distances 0.1: the first listed wins
    assert q.loc[0, "window_start_s"] == 0.0


def test_rater_summary_mean_population_sd_and_undefined_sd():
    r = pd.DataFrame({
        "annotator_id": ["A", "B", "C", "A", "B", "C", "A"],
        "time_s": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0],
        "valence": [0.1, 0.2, 0.6, 0.0, np.nan, 0.4, 0.3],
        "arousal": [-0.3, 0.0, 0.3, 0.5, 0.5, 0.5, -0.2],
    })
    s = vc.rater_summary(r).set_index("time_s")
    # t = 0, valence 0.1, 0.2, 0.6: mean 0.3, deviations -0.2, -0.1, 0.3 -> population var 0.14/3
    assert s.loc[0.0, "valence_mean"] == pytest.approx(0.3)
    assert s.loc[0.0, "valence_sd"] == pytest.approx(math.sqrt(0.14 / 3))
    # arousal -0.3, 0, 0.3: var 0.18/3
    assert s.loc[0.0, "arousal_sd"] == pytest.approx(math.sqrt(0.06))
    # t = 1: the NaN valence is left out: 0.0 and 0.4 -> mean 0.2, sd 0.2; arousal all 0.5 -> sd 0 (defined)
    assert s.loc[1.0, "valence_n"] == 2 and s.loc[1.0, "valence_mean"] == pytest.approx(0.2)
    assert s.loc[1.0, "valence_sd"] == pytest.approx(0.2)
    assert s.loc[1.0, "arousal_sd"] == 0.0
    # t = 2: one rating has no spread: NaN, not 0
    assert s.loc[2.0, "valence_n"] == 1 and s.loc[2.0, "valence_mean"] == pytest.approx(0.3)
    assert np.isnan(s.loc[2.0, "valence_sd"]) and np.isnan(s.loc[2.0, "arousal_sd"])


def test_track_curves_adds_latent_and_rater_count():
    r = pd.DataFrame({"song_id": ["7", "7", "7", "7", "8"], "annotator_id": ["A", "B", "A", "B", "A"],
                      "time_s": [0.0, 0.0, 1.0, 1.0, 0.0], "valence": [0.2, 0.4, 0.1, 0.3, 0.9],
                      "arousal": [0.0, 0.2, 0.0, 0.0, 0.9]})
    latent = pd.DataFrame({"song_id": ["7", "8"], "time_s": [1.0, 0.0], "valence": [0.5, 0.0],
                           "arousal": [-0.5, 0.0]})
    f = vc.track_curves(r, 7, latent)
    assert list(f["time_s"]) == [0.0, 1.0] and (f["n_raters"] == 2).all()
    assert f["valence_mean"].tolist() == pytest.approx([0.3, 0.2])
    assert np.isnan(f.loc[0, "latent_valence"]) and f.loc[1, "latent_arousal"] == -0.5  # no latent at 0 s
    with pytest.raises(ValueError, match="'9'"):
        vc.track_curves(r, 9)


def test_curve_lag_hand_computed_profile_and_peak():
    x = np.array([0.0, 1, 0, 0, 2, 0])
    y = np.array([0.0, 0, 1, 0, 0, 2])  # y[t + 1] = x[t]: the response comes one step later
    lag = vc.curve_lag(x, y, step_s=1.0, max_lag_s=1.0, skip_s=0.0, min_overlap=3)
    p = lag.profile.set_index("lag_s")
    # k = 0: x and y have mean 0.5; sum dx dy = -1.5, sum dx² = sum dy² = 3.5 -> r = -3/7
    assert p.loc[0.0, "r"] == pytest.approx(-3 / 7)
    assert p.loc[1.0, "r"] == pytest.approx(1.0)  # x[0..4] against y[1..5]: identical
    assert list(p["n_pairs"]) == [5, 6, 5]
    # k = -1: x[1..5] = (1, 0, 0, 2, 0) against y[0..4] = (0, 0, 1, 0, 0): means 0.6 and 0.2;
    # sum dx dy = sum x y - 5·0.6·0.2 = -0.6, sum dx² = 5 - 5·0.36 = 3.2, sum dy² = 1 - 5·0.04 = 0.8
    # -> r = -0.6 / sqrt(3.2 · 0.8) = -0.375
    assert p.loc[-1.0, "r"] == pytest.approx(-0.375)
    assert lag.r_peak == pytest.approx(1.0)
    assert lag.lag_s == 1.0  # the peak is at the end of the profile: not refined


def test_curve_lag_parabola_and_skip():
    t = np.arange(30)
    x = np.sin(2 * np.pi * t / 12)
    y = np.r_[np.zeros(2), x[:-2]]  # two steps late
    lag = vc.curve_lag(x, y, max_lag_s=4, skip_s=3)
    r1, r2, r3 = lag.profile.set_index("lag_s").loc[[1.0, 2.0, 3.0], "r"]
    assert r2 == pytest.approx(1.0)  # the whole-step peak at 2 s
    # the parabola through (1, r1), (2, r2), (3, r3) peaks at 2 + (r1 - r3) / (2 (r1 - 2 r2 + r3))
    assert lag.lag_s == pytest.approx(2 + 0.5 * (r1 - r3) / (r1 - 2 * r2 + r3))
    assert abs(lag.lag_s - 2.0) < 0.1
    assert lag.profile["n_pairs"].tolist()[4] == 27  # k = 0: t = 3 .. 29
    flat = vc.curve_lag(np.ones(20), y[:20], skip_s=0)
    assert np.isnan(flat.lag_s) and np.isnan(flat.r_peak) and vc.fmt(flat.lag_s) == "—"


def test_mean_curves_per_second_with_holes():
    r = pd.DataFrame({"song_id": ["1", "1", "1", "2"], "annotator_id": ["A", "B", "A", "A"],
                      "time_s": [0.0, 0.0, 2.0, 0.0], "valence": [0.2, 0.6, -0.4, 0.1], "arousal": 0.0})
    c = vc.mean_curves(r, "valence")
    np.testing.assert_allclose(c["1"], [0.4, np.nan, -0.4])
    np.testing.assert_allclose(c["2"], [0.1])


def test_moving_track_and_excerpt_start():
    latent = pd.DataFrame({
        "song_id": ["s"] * 4 + ["m"] * 4,
        "time_s": [0, 1, 2, 3] * 2,
        "valence": [0.9, -0.9, 0.0, 0.0, 0.0, 0.0, 0.5, -0.5],
        "arousal": [0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0],
    })
    # from 2 s on: s is flat (sd 0); m moves 0.5 -> -0.5 (sd 0.5). From 0 s, s moves more
    assert vc.moving_track(latent, skip_s=2) == "m"
    assert vc.moving_track(latent, skip_s=0) == "s"
    with pytest.raises(ValueError):
        vc.moving_track(latent, skip_s=10)
    lt = pd.DataFrame({"time_s": np.arange(20.0), "valence": 0.0, "arousal": 0.0})
    lt.loc[lt["time_s"] >= 14, "valence"] = 0.6  # the largest change is between 13 s and 14 s
    assert vc.excerpt_start(lt, duration_s=20.0, length_s=6.0) == 11.0  # 14 - 3
    assert vc.excerpt_start(lt, duration_s=20.0, length_s=10.0) == 9.0  # 14 - 5
    assert vc.excerpt_start(lt, duration_s=16.0, length_s=10.0) == 6.0  # kept inside the track
    assert vc.excerpt_start(lt, duration_s=8.0, length_s=10.0) == 0.0


def test_expected_delay_and_noise_free_mean():
    ann = pd.DataFrame({"annotator_id": ["A", "B"], "lag_s": [1.0, 2.0]})
    # first-order mean delay 1 / (e^(1/tau) - 1): tau = 1 -> 0.58198, tau = 2 -> 1.54149
    want = (1 / (math.e - 1) + 1 / (math.exp(0.5) - 1)) / 2
    assert vc.expected_delay(ann, ["A", "B", "Z"]) == pytest.approx(want)
    assert np.isnan(vc.expected_delay(ann, ["Z"]))

    full = pd.DataFrame([annotation.Annotator("A", "F", 20, "piano", 0, 0.3, -0.2, 0.9, 1.0, 0.2, 0.2).to_row()])
    latent = pd.DataFrame({"time_s": [0.0, 1.0, 2.0], "valence": [0.5, 0.5, 0.5], "arousal": [0.0, -1.0, -1.0]})
    nf = vc.noise_free_mean(latent, full, ["A"])
    a = 1 - math.exp(-1.0)  # the cursor moves a share a of the way each second, from the centre
    np.testing.assert_allclose(nf["valence"], [0.5 * a, 0.5 * (a + a * (1 - a)), 0.5 * (1 - (1 - a) ** 3)])
    np.testing.assert_allclose(nf["arousal"], [0.0, -a, -(a + a * (1 - a))])
    with pytest.raises(ValueError):
        vc.noise_free_mean(latent, full, ["Q"])


def test_plot_track_curves_draws_everything():
    t = np.arange(20.0)
    rows = []
    for k, a in enumerate("ABC"):
        rows += [{"song_id": "1", "annotator_id": a, "time_s": s, "valence": 0.1 * k + 0.02 * s,
                  "arousal": -0.1 * k} for s in t]
    ratings = pd.DataFrame(rows)
    latent = pd.DataFrame({"song_id": "1", "time_s": t, "valence": 0.02 * t, "arousal": np.sin(t / 3)})
    frame = vc.track_curves(ratings, "1", latent)
    lags = {d: vc.curve_lag(frame[f"latent_{d}"], frame[f"{d}_mean"]) for d in vc.DIMS}
    pooled = {d: vc.pooled_lag(ratings, latent, d) for d in vc.DIMS}
    fig = vc.plot_track_curves(frame, ratings, lags, pooled, excerpt=(5.0, 15.0), expected=lags, title="x")
    assert len(fig.axes) == 4
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "raters' mean" in labels and "latent (simulation truth)" in labels
    assert "each rater (n = 3)" in labels
    assert "n = 1 tracks" in fig.axes[3].get_title()
    plt.close(fig)
    only = vc.plot_track_curves(frame, ratings)  # no lags: the curves alone
    assert len(only.axes) == 2
    plt.close(only)


def synthetic_track(n_raters=4, seconds=24, lag=1):
    """Raters who follow a latent curve exactly `lag` steps late (plus a constant offset each)."""
    t = np.arange(seconds, dtype=float)
    lat = np.where(t < 12, 0.0, 0.6) + 0.1 * np.sin(t)
    latent = pd.DataFrame({"song_id": "5", "time_s": t, "valence": lat, "arousal": -lat})
    rows = []
    for k in range(n_raters):
        late = np.r_[np.zeros(lag), lat[:-lag]]
        rows += [{"song_id": "5", "annotator_id": f"A{k}", "time_s": s, "valence": late[i] + 0.05 * k,
                  "arousal": -late[i]} for i, s in enumerate(t)]
    manifest = pd.DataFrame({"track_id": ["5"], "audio_path": ["5.flac"], "duration_s": [24.0]})
    return pd.DataFrame(rows), latent, manifest


def test_one_track_and_lag_table():
    ratings, latent, manifest = synthetic_track(lag=1)
    ann = pd.DataFrame({"annotator_id": ["A0", "A1", "A2", "A3"], "lag_s": [1.0] * 4})
    tr = vc.one_track(ratings, manifest, latent, None)
    assert tr["song_id"] == "5" and tr["audio_path"] == "5.flac"
    assert tr["excerpt"] == (7.0, 17.0)  # the step at 12 s, a 10 s excerpt centred on it
    # exactly one step late and 0 s at the peak's neighbours are not symmetric: within a step of 1
    assert abs(tr["lags"]["valence"].lag_s - 1.0) < 0.5 and tr["lags"]["valence"].r_peak == pytest.approx(1.0)
    table = vc.lag_table(tr).set_index("dimension")
    assert table.loc["arousal", "pooled_tracks"] == 1
    assert np.isnan(table.loc["valence", "noise_free_lag_s"])  # no annotators: undefined, not 0
    assert np.isnan(table.loc["valence", "simulated_mean_delay_s"])
    with_ann = vc.lag_table(vc.one_track(ratings, manifest, latent, ann.assign(
        sex="F", age=20, instrument="piano", cohort=0, bias_v=0.0, bias_a=0.0, scale=1.0, noise=0.1,
        initial_noise=0.1))).set_index("dimension")
    assert with_ann.loc["valence", "simulated_mean_delay_s"] == pytest.approx(1 / (np.e - 1))
    assert np.isfinite(with_ann.loc["valence", "noise_free_lag_s"])
    # without the simulation truth: the raters' mean curve picks the track, nothing about a lag
    plain = vc.one_track(ratings, manifest)
    assert plain["lags"] == {} and plain["song_id"] == "5"
    assert vc.lag_table(plain)["track_lag_s"].isna().all()


def test_results_index_describes_the_new_files():
    from damer_lite.report.results_index import describe

    what, notebook = describe("track_curves_synthmemo")
    assert "per-second ratings" in what and notebook == "01_data"
    what, notebook = describe("response_lag_synthmemo")
    assert "response lag" in what and notebook == "01_data"
