import pytest

from damer_lite.config import Config, apply_overrides, load_config, profile


def test_defaults_are_the_papers_numbers():
    c = Config()
    assert (c.model.d, c.model.d_fuse, c.model.heads, c.model.layers, c.model.ffn_mult) == (128, 256, 4, 2, 4)
    assert (c.saml.queue_size, c.saml.momentum, c.saml.tau_cont) == (512, 0.95, 0.07)
    assert (c.pcl.tau_max, c.pcl.tau_min) == (1.5, 0.7)
    assert (c.theta0, c.theta_min) == (0.65, 0.35)
    assert (c.loss.lambda_cls, c.loss.lambda_pl, c.loss.lambda_cons, c.loss.lambda_cont) == (1.0, 0.8, 0.2, 0.1)
    t = c.train
    assert (t.lr, t.weight_decay, t.epochs, t.scheduler, t.grad_clip) == (1e-3, 1e-4, 80, "cosine", 5.0)
    assert c.modules.dsaf and c.modules.pcl and c.modules.saml


def test_theta_values_flag():
    c = apply_overrides(Config(), ["pcl.theta_values=eq16_text"])
    assert (c.theta0, c.theta_min) == (0.9, 0.7)


def test_profiles():
    assert profile("paper").to_dict() == Config().to_dict()
    s = profile("smoke")
    assert s.model.d == 32 and s.train.epochs <= 2
    assert profile("quick").train.epochs < 80
    with pytest.raises(ValueError, match="unknown profile"):
        profile("huge")


def test_unknown_keys_and_wrong_types_rejected():
    with pytest.raises(ValueError, match="unknown config key 'model.foo'"):
        Config.from_dict({"model": {"foo": 1}})
    with pytest.raises(ValueError, match="unknown config section"):
        Config.from_dict({"modle": {"d": 1}})
    with pytest.raises(ValueError, match="model.d must be an int"):
        Config.from_dict({"model": {"d": "big"}})
    with pytest.raises(ValueError, match="must be an int"):
        Config.from_dict({"model": {"d": 64.5}})
    with pytest.raises(ValueError, match="must be a bool"):
        Config.from_dict({"modules": {"dsaf": 1}})
    with pytest.raises(ValueError, match="must be one of"):
        Config.from_dict({"model": {"token_axis": "diagonal"}})
    with pytest.raises(ValueError, match="divisible"):
        Config.from_dict({"model": {"d": 30, "heads": 4}})
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(Config(), ["model.d"])


def test_overrides_and_yaml(tmp_path):
    c = apply_overrides(profile("smoke"), ["model.d=64", "train.lr=1e-3", "modules.saml=false",
                                           "pcl.progress=alg1"])
    assert c.model.d == 64 and c.train.lr == 1e-3 and not c.modules.saml and c.pcl.progress == "alg1"
    assert isinstance(apply_overrides(Config(), ["loss.lambda_pl=1"]).loss.lambda_pl, float)
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  d: 16\n  heads: 2\nsaml:\n  positives: sum\n")
    c = load_config(p, "smoke", ["train.epochs=1"])
    assert (c.model.d, c.saml.positives, c.train.epochs, c.saml.queue_size) == (16, "sum", 1, 64)
    p.write_text("model:\n  dd: 16\n")
    with pytest.raises(ValueError, match=str(p.name)):
        Config.from_yaml(p)


def test_round_trip():
    c = apply_overrides(profile("quick"), ["pcl.source=pool"])
    assert Config.from_dict(c.to_dict()).to_dict() == c.to_dict()
