"""Run configs: TOML loading, --set overrides, validation messages that name the key, circuit parameters."""

import pytest

from neuromorph.circuit import circuit_names, get_circuit, make_params
from neuromorph.config import CompareConfig, RunConfig, TrainConfig, VerifyConfig, config_from_dict, load_config, parse_overrides
from neuromorph.errors import ConfigError, UnknownCircuitError

VALID = """\
circuit = "twocomp"
seed = 7
name = "small"

[params]
n_hidden = 6
beta = 1

[train]
dataset = "digits"
epochs = 2
n_train = 100

[verify]
backends = ["numpy", "cython"]
tolerance = 1e-10
"""


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_valid(tmp_path):
    cfg = load_config(write(tmp_path, VALID))
    assert isinstance(cfg, RunConfig)
    assert (cfg.circuit, cfg.seed, cfg.name, cfg.run_name) == ("twocomp", 7, "small", "small")
    assert cfg.params == {"n_hidden": 6, "beta": 1}
    assert cfg.train == TrainConfig(dataset="digits", epochs=2, n_train=100)
    assert cfg.verify == VerifyConfig(backends=("numpy", "cython"), tolerance=1e-10)
    assert cfg.compare is None
    d = cfg.to_dict()
    assert d["train"]["epochs"] == 2 and d["verify"]["backends"] == ("numpy", "cython") and "compare" not in d


def test_minimal_and_defaults(tmp_path):
    cfg = load_config(write(tmp_path, 'circuit = "twocomp"\n[compare]\n'))
    assert cfg.seed == 0 and cfg.run_name == "twocomp-seed0" and cfg.train is None
    assert cfg.compare == CompareConfig()


def test_overrides(tmp_path):
    path = write(tmp_path, VALID)
    cfg = load_config(
        path,
        ["train.epochs=3", "params.n_hidden=5", "seed=4", 'verify.backends=["cpp"]', "compare.t_samples=[0.1, 1]",
         "train.dataset=moons"],
    )
    assert cfg.train.epochs == 3 and cfg.train.n_train == 100  # other [train] keys kept
    assert cfg.params == {"n_hidden": 5, "beta": 1}
    assert cfg.seed == 4
    assert cfg.verify.backends == ("cpp",)
    assert cfg.compare.t_samples == (0.1, 1.0) and all(isinstance(v, float) for v in cfg.compare.t_samples)
    assert cfg.train.dataset == "moons"  # a bare word is taken as a string


def test_parse_overrides():
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d='x'", "e=true"]) == {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": True}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["train.epochs"])


@pytest.mark.parametrize(
    "text, key",
    [
        ('circuit = "twocomp"\nepochs = 3\n', "epochs"),
        ('circuit = "twocomp"\n[train]\nepocs = 3\n', "epocs"),
        ('circuit = "twocomp"\n[train]\nepochs = "ten"\n', "train.epochs"),
        ('circuit = "twocomp"\n[verify]\ntolerance = "small"\n', "verify.tolerance"),
        ('circuit = "twocomp"\n[compare]\nt_samples = ["a"]\n', "compare.t_samples"),
        ('circuit = "twocomp"\n[verify]\nbackends = [1]\n', "verify.backends"),
        ('circuit = "twocomp"\n[verify]\nbackends = "numpy"\n', "verify.backends"),
        ('circuit = "twocomp"\n[train]\ndownload = 1\n', "train.download"),
        ('circuit = "twocomp"\nseed = -1\n', "seed"),
        ('circuit = "twocomp"\nseed = 1.5\n', "seed"),
        ("circuit = 3\n", "circuit"),
        ('seed = 1\n', "circuit"),
        ('circuit = "twocomp"\ntrain = 5\n', "[train]"),
    ],
)
def test_invalid_names_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert key in str(exc.value)


def test_override_validated_like_file(tmp_path):
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(write(tmp_path, VALID), ['train.epochs="ten"'])
    with pytest.raises(ConfigError, match="bogus"):
        load_config(write(tmp_path, VALID), ["train.bogus=1"])


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml.*does not exist"):
        load_config(missing)


def test_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, 'circuit = "twocomp\nseed = \n'))


# ---- circuit parameters --------------------------------------------------------------------------------
def test_make_params():
    from circuits.twocomp import TwoCompParams

    p = make_params(TwoCompParams, {"n_hidden": 5, "beta": 2})
    assert p.n_hidden == 5 and p.beta == 2.0 and isinstance(p.beta, float) and p.n_in == TwoCompParams().n_in
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['n_hiden'\].*n_hidden"):
        make_params(TwoCompParams, {"n_hiden": 5})
    with pytest.raises(ConfigError, match="n_in must be of type int"):
        make_params(TwoCompParams, {"n_in": 2.5})


def test_get_circuit_params():
    c = get_circuit("twocomp", n_hidden=5)
    assert c.params.n_hidden == 5
    with pytest.raises(ConfigError, match="n_hidden"):
        get_circuit("twocomp", n_hidden="x")
    with pytest.raises(ConfigError, match="n_hidden must be >= 1"):
        get_circuit("twocomp", n_hidden=0)


def test_unknown_circuit():
    with pytest.raises(UnknownCircuitError) as exc:
        get_circuit("nonexistent")
    msg = str(exc.value)
    assert "nonexistent" in msg and "twocomp" in msg
    for name in circuit_names():
        assert repr(name) in msg
    assert isinstance(exc.value, KeyError)


def test_digest(tmp_path):
    path = write(tmp_path, VALID)
    a = load_config(path)
    assert a.digest() == load_config(path).digest()
    assert len(a.digest()) == 12
    digests = {
        a.digest(),
        load_config(path, ["train.epochs=3"]).digest(),
        load_config(path, ["params.n_hidden=7"]).digest(),
        load_config(path, ["seed=8"]).digest(),
        load_config(path, ['verify.backends=["numpy"]']).digest(),
    }
    assert len(digests) == 5


def _committed_manifests():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments"
    for path in sorted(root.glob("**/manifest.json")):
        manifest = json.loads(path.read_text())
        if "config" in manifest and "config_digest" in manifest:  # run folders (scripts' manifests have neither)
            yield path, manifest


def test_committed_run_manifests_keep_their_config_digest():
    """A key added to a config section later (train.eval_every) must not change the digest of configs written
    before it: runs that were interrupted must still resume into their folders, and committed summaries keep
    their groups. Every committed run's manifest is the record of what the digest was."""
    found = list(_committed_manifests())
    assert len(found) > 100  # the protocol runs of CorInfoMax, pHSIC, URFB, KSM
    wrong = [(str(p), m["config_digest"], config_from_dict(m["config"]).digest()) for p, m in found
             if config_from_dict(m["config"]).digest() != m["config_digest"]]
    assert not wrong, wrong[:3]


def test_eval_every_enters_the_digest_only_when_it_changes_what_runs():
    base = {"circuit": "twocomp", "train": {"dataset": "digits", "epochs": 2}}
    plain = config_from_dict(base)
    same = config_from_dict({**base, "train": {**base["train"], "eval_every": 1}})
    other = config_from_dict({**base, "train": {**base["train"], "eval_every": 5}})
    assert plain.digest() == same.digest() and plain.group_digest() == same.group_digest()
    assert other.digest() != plain.digest() and other.group_digest() != plain.group_digest()
    assert plain.to_dict()["train"]["eval_every"] == 1  # the manifest still records it
