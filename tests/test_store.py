import os
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from damer_lite.features import store
from damer_lite.features.config import feature_profile

SR = 16000


def _music(sr, seconds, seed, channels=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 110 * 2 ** rng.integers(0, 24, 1)[0] / 12
    x = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 6)) + 0.02 * rng.standard_normal(t.size)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.fixture
def cfg():
    return feature_profile("smoke", min_duration_s=3.0, n_tokens=16)


def _good_manifest(folder, n=3):
    rows = []
    for i in range(n):
        p = folder / f"t{i}.flac"
        sf.write(p, _music(SR, 4.0, i), SR)
        rows.append({"track_id": f"t{i}", "audio_path": str(p), "dataset": "toy"})
    return pd.DataFrame(rows)


def test_extract_and_load(tmp_path, cfg):
    man = _good_manifest(tmp_path)
    man["window_start_s"] = [np.nan, 0.5, np.nan]
    man["window_end_s"] = [np.nan, 4.0, np.nan]
    s = store.extract(man, tmp_path / "out", cfg, workers=1, progress=False)
    assert (s.n_ok, s.n_failed, s.n_computed) == (3, 0, 3) and s.x_realtime > 0
    res = store.load(tmp_path / "out")
    assert res["mel"].shape == (3, 128, 16) and res["coch"].shape == (3, 84, 16)
    assert res["handcrafted"].shape == (3, len(res["handcrafted_names"]))
    assert res["mel"].dtype == np.float32 and isinstance(res["mel"], np.memmap)
    assert np.isfinite(res["mel"]).all() and np.isfinite(res["coch"]).all()
    assert list(res["index"]["track_id"]) == ["t0", "t1", "t2"]
    assert res["index"]["duration_s"].tolist() == pytest.approx([4.0, 3.5, 4.0])
    assert res["config"] == cfg and len(res["failures"]) == 0
    assert store.load(tmp_path / "out", dataset="toy", cfg=cfg)["dir"] == res["dir"]


def test_resume_after_interruption(tmp_path, cfg):
    man = _good_manifest(tmp_path, n=4)
    out = tmp_path / "out"
    store.extract(man, out, cfg, progress=False)
    root = store.store_dir(out, "toy", cfg)
    first = store.load(out)
    mel0 = np.array(first["mel"])
    # simulate a run killed mid-way: no consolidated files, one track missing, a stray temp file
    for name in ("mel.npy", "coch.npy", "handcrafted.npy", "index.csv", "failures.csv"):
        (root / name).unlink()
    tracks = root / "tracks"
    (tracks / f"{store.track_key('t2')}.npz").unlink()
    (tracks / f"{store.track_key('t3')}.npz.tmp-12345").write_bytes(b"partial")
    mtimes = {p.name: p.stat().st_mtime_ns for p in tracks.glob("*.npz")}
    time.sleep(0.01)
    s = store.extract(man, out, cfg, progress=False)
    assert s.n_computed == 1 and s.n_ok == 4
    for name, mt in mtimes.items():
        assert (tracks / name).stat().st_mtime_ns == mt  # finished tracks were not recomputed
    assert not list(tracks.glob("*.tmp-*"))
    assert len(list(tracks.glob("*.npz"))) == 4
    res = store.load(out)
    assert list(res["index"]["track_id"]) == ["t0", "t1", "t2", "t3"]  # no duplicates, manifest order
    assert np.allclose(np.array(res["mel"]), mel0, atol=1e-5)


def test_audio_rewritten_since_is_computed_again(tmp_path, cfg, capsys):
    """A dataset regenerated in place (same track ids, new audio) must not keep the old tracks' features."""
    man = _good_manifest(tmp_path, n=3)
    out = tmp_path / "out"
    store.extract(man, out, cfg, progress=False)
    mel0 = np.array(store.load(out)["mel"])
    time.sleep(0.01)
    sf.write(tmp_path / "t1.flac", _music(SR, 4.0, 7), SR)  # t1 rewritten with other music
    capsys.readouterr()
    s = store.extract(man, out, cfg, progress=False)
    assert s.n_computed == 1 and s.n_ok == 3
    assert "1 finished track file(s) are older than their audio" in capsys.readouterr().out
    mel1 = np.array(store.load(out)["mel"])
    assert np.allclose(mel1[[0, 2]], mel0[[0, 2]]) and not np.allclose(mel1[1], mel0[1])
    assert store.extract(man, out, cfg, progress=False).n_computed == 0  # and then it is up to date


def test_failures_table(tmp_path, cfg):
    d = tmp_path / "audio"
    d.mkdir()
    files = {}
    files["good"] = d / "good.flac"
    sf.write(files["good"], _music(SR, 4.0, 0), SR)
    files["corrupt"] = d / "corrupt.wav"
    sf.write(files["corrupt"], _music(SR, 4.0, 1), SR)
    files["corrupt"].write_bytes(files["corrupt"].read_bytes()[:30] + os.urandom(400))
    files["empty"] = d / "empty.flac"
    files["empty"].write_bytes(b"")
    files["short"] = d / "short.wav"
    sf.write(files["short"], _music(SR, 2.0, 2), SR)
    files["silent"] = d / "silent.wav"
    sf.write(files["silent"], np.zeros(SR * 4), SR)
    files["low8k"] = d / "low8k.wav"
    sf.write(files["low8k"], _music(8000, 4.0, 3), 8000)
    files["six"] = d / "six.flac"
    sf.write(files["six"], _music(SR, 4.0, 4, channels=6), SR)
    files["text"] = d / "readme.mp3"
    files["text"].write_text("definitely not an mp3\n" * 40)
    man = pd.DataFrame({"track_id": list(files), "audio_path": [str(p) for p in files.values()]})
    s = store.extract(man, tmp_path / "out", cfg, workers=2, dataset="bad", progress=False)
    res = store.load(tmp_path / "out")
    assert set(res["index"]["track_id"]) == {"good", "low8k", "six"}
    fails = res["failures"].set_index("track_id")["reason"].to_dict()
    assert set(fails) == {"corrupt", "empty", "short", "silent", "text"}
    assert "empty" in fails["empty"] and "too short" in fails["short"] and "silent" in fails["silent"]
    assert "not decodable as MP3" in fails["text"]
    assert (s.n_ok, s.n_failed) == (3, 5)
    assert np.isfinite(res["mel"]).all() and np.isfinite(res["coch"]).all()


def test_manifest_checks(tmp_path, cfg):
    with pytest.raises(ValueError, match="audio_path"):
        store.extract(pd.DataFrame({"track_id": ["a"]}), tmp_path, cfg, progress=False)
    with pytest.raises(ValueError, match="duplicate"):
        store.extract(pd.DataFrame({"track_id": ["a", "a"], "audio_path": ["x", "y"]}), tmp_path, cfg)


def test_tracks_set_aside_by_the_loader_are_in_the_failures_table(tmp_path, capsys):
    """A Memo2496-layout folder where the loader rejects tracks (a 2 s file, a missing file): `damer-lite
    features` lists them in failures.csv with stage 'loader' and the summary's counts add up to the dataset's."""
    from damer_lite.cli import main
    from damer_lite.datasets import load_manifest, synth

    root = tmp_path / "memo"
    synth.generate(root, n_tracks=8, duration=4.0, sr=16000, seed=5, progress=False)
    audio = sorted((root / "MusicRawData").iterdir())
    sf.write(audio[0], _music(16000, 2.0, 9), 16000)  # too short for the loader (< 3 s)
    audio[1].unlink()  # missing audio
    (root / "MusicRawData" / audio[2].name).write_bytes(b"not audio at all" * 50)  # fails at decode
    manifest = load_manifest("memo2496", root)
    assert len(manifest) == 6  # the loader keeps 6 of 8
    rc = main(["features", "--dataset", "memo2496", "--root", str(root), "--out", str(tmp_path / "f"),
               "--profile", "smoke", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0
    fails = store.load(tmp_path / "f")["failures"].set_index("track_id")
    assert (fails["stage"] == "loader").sum() == 2 and (fails["stage"] == "decode").sum() == 1, fails
    assert fails["reason"].str.contains("too_short").any() and fails["reason"].str.contains("missing_audio").any()
    assert "features: 8 tracks: 5 ok, 1 failed, 2 set aside by the loader (decode 1, loader 2)" in out.out
    assert "failures.csv" in out.err
