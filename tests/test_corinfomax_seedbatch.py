"""Seed-batched CorInfoMax (circuits/corinfomax/seedbatch.py) against the single-seed trainer, and through the sweep.

Reference: :class:`circuits.corinfomax.trainer.CorInfoMaxTrainer` run seed by seed (float64, the plain-torch
kernel), an independent code path (2-D GEMMs, lanes, its own buffers) of the same algorithm. Every seed of a
batch must end with its single-seed weights, free-phase rates and predictions to 1e-12.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from circuits.corinfomax.params import CorInfoMaxParams
from circuits.corinfomax.seedbatch import SeedBatch
from circuits.corinfomax.trainer import CorInfoMaxTrainer
from neuromorph.circuit import make_params
from neuromorph.config import load_config
from neuromorph.errors import ConfigError
from neuromorph.runner import load_checkpoint
from neuromorph.sweep import expand, run_sweep


def _params(variant: str, sizes: tuple, **kw) -> CorInfoMaxParams:
    P = len(sizes) - 1
    return make_params(CorInfoMaxParams, dict(
        variant=variant, sizes=list(sizes), lr_ff=[0.3, 0.2, 0.1][:P], lr_fb=[0.07, 0.05][:P - 1], batch=3,
        t_free=6, t_nudged=4, lam=0.99, **kw), where="test")


@pytest.mark.parametrize("variant,sizes,extra", [
    ("dense", (12, 8, 6, 4), {"weight_decay": True}),  # 3 layers: feedback GEMM, hidden and output lateral
    ("sparse", (12, 8, 4), {}),                         # interneurons, ReLU
    ("dense", (12, 8, 4), {"random_sign_beta": False}),
])
def test_every_seed_equals_its_single_seed_run(variant, sizes, extra):
    p = _params(variant, sizes, **extra)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (20, sizes[0]))  # 20 samples, batch 3: the last batch is short (2)
    y = rng.integers(0, sizes[-1], 20)
    seeds = [0, 3, 7]
    sb = SeedBatch(p, seeds, dtype=torch.float64)
    for ep in range(2):
        out = sb.train_epoch(x, y, ep)
    xs = [x[:9], x[5:14], x[11:20]]  # each seed evaluates its own inputs (the runner's train subsets differ)
    rates, preds = sb.free_rates(xs), sb.predict(xs)
    for i, s in enumerate(seeds):
        ref = CorInfoMaxTrainer(p, s, dtype=torch.float64, threads=1, kernel="python")
        for ep in range(2):
            ref_out = ref.train_epoch(x, y, ep)
        assert out[i] == ref_out  # lr factor, batches, fraction of positive beta (the seed's own signs)
        w_ref, w = ref.weights(), sb.weights_of(i)
        for name in w_ref:
            np.testing.assert_allclose(w[name], w_ref[name], rtol=0, atol=1e-12, err_msg=f"seed {s} {name}")
        for k, r in enumerate(ref.free_rates(xs[i])):
            np.testing.assert_allclose(rates[i][k], r, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(preds[i], ref.predict(xs[i]))
        ref.close()
    # the seeds really differ (else the test would not tell one seed's slice from another's)
    assert np.abs(sb.weights_of(0)["W_ff0"] - sb.weights_of(1)["W_ff0"]).max() > 1e-3


def test_member_state_round_trip_and_bad_input():
    p = _params("dense", (12, 8, 4))
    sb = SeedBatch(p, [1, 2], dtype=torch.float64)
    st = sb.members[1].state_dict()
    st["weights"]["W_ff0"] = st["weights"]["W_ff0"] * 2.0
    sb.members[0].load_state_dict(st)
    np.testing.assert_array_equal(sb.weights_of(0)["W_ff0"], st["weights"]["W_ff0"])
    with pytest.raises(ConfigError, match="distinct seeds"):
        SeedBatch(p, [1, 1])
    with pytest.raises(ConfigError, match="lateral_update"):
        SeedBatch(_params("dense", (12, 8, 4), lateral_update="DO"), [0, 1])


TINY = """
circuit = "corinfomax"
name = "cim"
[params]
sizes = [64, 12, 10]
lr_ff = [0.3, 0.2]
batch = 10
t_free = 8
t_nudged = 4
lam = 0.999
revive_silent_output = 2  # the remedy on: the whole run path (figures too) and its counters, single == batched
[trainer]
dtype = "float64"
[train]
dataset = "digits"
epochs = 2
n_train = 120
n_test = 60
threads = 1
"""


def test_sweep_seed_batch_equals_single_runs(tmp_path):
    """`neuromorph sweep --seed-batch 3`: one task, one folder per seed, each equal to its single run; resume."""
    cfg_path = tmp_path / "cim.toml"
    cfg_path.write_text(TINY)
    configs = expand(load_config(cfg_path), [0, 1, 2])
    single = run_sweep(configs, tmp_path / "single", workers=1, cores=1)
    batched = run_sweep(configs, tmp_path / "batched", workers=1, cores=1, seed_batch=3)
    assert [r.status for r in single] == [r.status for r in batched] == ["complete"] * 3
    for c in configs:
        a, b = tmp_path / "single" / c.run_name, tmp_path / "batched" / c.run_name
        man = json.loads((b / "manifest.json").read_text())
        assert man["backend"]["trainer_options"]["seed_batch"] == 3  # the manifest says what ran
        assert json.loads((a / "manifest.json").read_text())["backend"]["trainer_options"].get("seed_batch") is None
        rows_a = [json.loads(ln) for ln in (a / "metrics.jsonl").read_text().splitlines()]
        rows_b = [json.loads(ln) for ln in (b / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows_b] == [1, 2]
        for ra, rb in zip(rows_a, rows_b):
            assert (ra["test_acc"], ra["train_acc"]) == (rb["test_acc"], rb["train_acc"])
            assert abs(ra["angle_1"] - rb["angle_1"]) < 1e-9
            assert ra["revived_output_units"] == rb["revived_output_units"]
        wa, wb = load_checkpoint(a)["trainer"]["weights"], load_checkpoint(b)["trainer"]["weights"]
        for name in wa:
            np.testing.assert_allclose(wb[name], wa[name], rtol=0, atol=1e-12)
    # complete runs are skipped, also when batched
    again = run_sweep(configs, tmp_path / "batched", workers=1, cores=1, seed_batch=3)
    assert [r.status for r in again] == ["skipped"] * 3
    # seed_batch 2 over 3 seeds: a group of two and a single run, all equal to the single runs
    longer = expand(load_config(cfg_path, ["train.epochs=3"]), [0, 1, 2])
    res = run_sweep(longer, tmp_path / "single3", workers=1, cores=1)
    res_b = run_sweep(longer, tmp_path / "batched3", workers=1, cores=1, seed_batch=2)  # groups of 2 and 1
    assert [r.status for r in res] == [r.status for r in res_b] == ["complete"] * 3
    for c in longer:
        ra = [json.loads(ln) for ln in (tmp_path / "single3" / c.run_name / "metrics.jsonl").read_text().splitlines()]
        rb = [json.loads(ln) for ln in (tmp_path / "batched3" / c.run_name / "metrics.jsonl").read_text().splitlines()]
        assert [r["test_acc"] for r in ra] == [r["test_acc"] for r in rb]


def test_sweep_seed_batch_rejects_bad_value(tmp_path, capsys):
    cfg_path = tmp_path / "cim.toml"
    cfg_path.write_text(TINY)
    with pytest.raises(ConfigError, match="--seed-batch"):
        run_sweep(expand(load_config(cfg_path), [0]), tmp_path / "x", workers=1, cores=1, seed_batch=0)
    from neuromorph.cli import main

    assert main(["sweep", str(cfg_path), "--seeds", "0-1", "--seed-batch", "0", "--out-root", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --seed-batch must be an integer >= 1")


def test_revive_silent_output_single_and_batched():
    """The opt-in remedy: an output unit silenced by hand is revived after N silent batches with the draw of
    revive_column, identically in the single-seed trainer and the seed batch; off (0) nothing is touched."""
    from circuits.corinfomax.params import revive_column

    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (30, 12))
    y = rng.integers(0, 4, 30)
    for n_revive in (0, 3):
        p = _params("dense", (12, 8, 4), revive_silent_output=n_revive)
        seeds = [0, 5]
        sb = SeedBatch(p, seeds, dtype=torch.float64)
        refs = []
        for i, s in enumerate(seeds):
            ref = CorInfoMaxTrainer(p, s, dtype=torch.float64, threads=1, kernel="python")
            w = ref.weights()
            w["W_ff1"][:, 2] = -5.0  # output unit 2: a large negative drive, silent on every input
            ref._load_weights(w)
            sb.load_weights_of(i, w)
            refs.append(ref)
        sb.train_epoch(x, y, 0)  # 10 batches of 3
        for i, (s, ref) in enumerate(zip(seeds, refs)):
            ref.train_epoch(x, y, 0)
            wr, wb = ref.weights(), sb.weights_of(i)
            for name in wr:
                np.testing.assert_allclose(wb[name], wr[name], rtol=0, atol=1e-12)
            if n_revive == 0:
                assert ref.revived == 0 and (wr["W_ff1"][:, 2] < -4.0).all()  # faithful: the unit stays dead
                assert "revived_output_units" not in ref.epoch_metrics()
            else:
                # silent in batches 0, 1, 2 -> revived after batch 2 with the draw of (seed, epoch 0, batch 2, unit 2)
                assert ref.revived >= 1 and sb.revived[i] == ref.revived
                assert wr["W_ff1"][:, 2].max() > -1.0  # the column was re-drawn (|draw| <= 0.71, then trained)
                assert ref.epoch_metrics()["revived_output_units"] == ref.revived
                col = revive_column(p, s, 0, 2, 2)
                assert np.abs(col).max() <= np.sqrt(6 / 12) and np.abs(col - revive_column(p, s, 0, 3, 2)).max() > 0
                st = ref.state_dict()
                assert int(st["revive"]["revived"]) == ref.revived
                np.testing.assert_array_equal(sb.members[i].state_dict()["revive"]["silent_batches"],
                                              st["revive"]["silent_batches"])
            ref.close()
    with pytest.raises(ConfigError, match="revive_silent_output"):
        _params("dense", (12, 8, 4), revive_silent_output=-1)


def test_revive_ignored_by_the_reference():
    """The equation models simulate trials of the paper's equations: the remedy (between batches, fast trainers
    only) leaves simulate_reference's trace unchanged, so `neuromorph run` can draw its phase timeline."""
    from circuits.corinfomax.circuit import CorInfoMax

    plain = CorInfoMax.verification_instance()
    remedy = CorInfoMax.verification_instance(revive_silent_output=1)
    w = plain.initial_weights(0)
    data = plain.example_data(3, 0)
    a, b = plain.simulate_reference(w, data), remedy.simulate_reference(w, data)
    assert set(a.states) == set(b.states) and set(a.weights) == set(b.weights) and a.weights
    for name in a.states:
        np.testing.assert_array_equal(np.asarray(a.states[name]), np.asarray(b.states[name]))
    for name in a.weights:
        np.testing.assert_array_equal(np.asarray(a.weights[name]), np.asarray(b.weights[name]))
