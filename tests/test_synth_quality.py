"""SynthMemo is neither trivial nor hopeless: a linear probe on track-mean log-Mel scores 60-90 %."""

import librosa
import numpy as np
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from damer_lite.datasets import load_manifest, manifest, synth


def test_logistic_regression_on_mean_log_mel_is_between_60_and_90(quick_synth):
    df = load_manifest("synthmemo", quick_synth)
    feats = []
    for path, w0, w1 in zip(df["audio_path"], df["window_start_s"], df["window_end_s"], strict=True):
        y, sr = sf.read(path, dtype="float32")
        y = y[int(w0 * sr): int(w1 * sr)]
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=1024, n_mels=128)
        feats.append(np.log(mel + 1e-10).mean(axis=1))
    x = np.stack(feats)
    for target in ("arousal", "valence"):
        s = manifest.split(df, target, seed=0, test_size=synth.DESIGN_TEST_SIZE["quick"])  # 210 / 600
        y = (df[target].to_numpy() > 0).astype(int)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(x[s["train"]], y[s["train"]])
        acc = clf.score(x[s["test"]], y[s["test"]])
        print(f"{target}: logistic regression on mean log-Mel, test accuracy {acc:.3f}")
        assert 0.60 <= acc <= 0.90, (target, acc)
