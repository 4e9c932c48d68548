"""CorInfoMax: Brian2 (numpy, cython, cpp_standalone; cuda code generation) == torch reference == plain numpy.

* Every variant (dense B∞,+ / sparse B1,+) × depth (2 / 3 layers) × lateral form (B / DO) on the numpy target:
  every state at every phase boundary of every trial and every plastic matrix after each of 4 updates
  (4 windows of batch 3) agree with the torch float64 reference to 1e-9 relative (observed ~1e-15).
* One configuration each on cython and cpp_standalone; cuda_standalone code generation (fast) and a full nvcc
  compile (slow).
* A third implementation, written below from the equations in the ``circuits.corinfomax.circuit`` docstring
  (trial by trial, sample by sample, paper orientation, no schedule object), agrees with the torch reference,
  and its Jacobi variant does not (so the Gauss-Seidel order is what is being verified).
* The D/O form of the lateral update (eqs. 29-30) gives the same numbers as the B form (eq. 28).
"""

import numpy as np
import pytest
import torch

from circuits.corinfomax import CorInfoMax, CorInfoMaxSparse, verification_instance
from neuromorph.brian.devices import activate, check_target, cuda_toolchain
from neuromorph.brian.model import run_model
from neuromorph.circuit import get_circuit
from neuromorph.equivalence import compare_traces
from neuromorph.errors import BackendUnavailableError, ConfigError, ShapeError

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

TOL = 1e-9
N_TRIALS = 12  # 4 update windows of batch 3
CONFIGS = [(v, layers, lat) for v in ("dense", "sparse") for layers in (2, 3) for lat in ("B", "DO")]


@pytest.fixture
def brian_device():
    """Leave Brian2 on the runtime device after a test that switched targets."""
    yield
    activate("numpy")


def _equivalence(circuit, target, *, scale=1.0, lr_factor=1.0, seed=0):
    weights = circuit.initial_weights(seed)
    data = circuit.example_data(N_TRIALS, seed)
    data["x"] = data["x"] * scale
    reference = circuit.simulate_reference(weights, data, dtype=torch.float64, lr_factor=lr_factor)
    activate(target)
    trace, _ = run_model(circuit.build_brian(weights, data, lr_factor=lr_factor))
    errors = compare_traces(circuit, trace, reference)
    return errors, weights, reference, trace


def _check(circuit, errors, weights, reference):
    p = circuit.params
    names = {e.name for e in errors}
    expected_states = {f"u{k}" for k in range(1, p.n_layers + 1)}
    if p.variant == "sparse":
        expected_states |= {f"a{k}" for k in range(1, p.n_layers + 1)}
    assert names == expected_states | set(circuit.plastic_names())
    bad = {e.name: f"{e.max_rel:.2e} at {e.worst_at}" for e in errors if not e.max_rel <= TOL}
    assert not bad, bad
    n_updates = N_TRIALS // p.batch
    assert n_updates >= 3
    for name in circuit.plastic_names():
        hist = reference.weights[name]
        assert hist.shape[0] == n_updates
        assert np.abs(hist[-1] - hist[0]).max() > 1e-5, f"{name} did not learn"
    for k in range(p.n_layers):
        assert np.abs(reference.weights[f"W_ff{k}"][0] - weights[f"W_ff{k}"]).max() > 1e-5
    return max(e.max_rel for e in errors)


# ---- Brian2 == torch ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,layers,lateral", CONFIGS, ids=["-".join(map(str, c)) for c in CONFIGS])
def test_numpy_equivalence(variant, layers, lateral, brian_device):
    circuit = verification_instance(variant, layers, lateral)
    errors, weights, reference, _ = _equivalence(circuit, "numpy")
    _check(circuit, errors, weights, reference)


@pytest.mark.parametrize("variant,layers,lateral", [("dense", 2, "B"), ("sparse", 3, "DO")])
def test_numpy_equivalence_strong_drive(variant, layers, lateral, brian_device):
    """Inputs ×4: rates hit both clip bounds and every layer's interneuron fires (q > 0)."""
    circuit = verification_instance(variant, layers, lateral)
    errors, weights, reference, _ = _equivalence(circuit, "numpy", scale=4.0)
    _check(circuit, errors, weights, reference)
    u = np.concatenate([reference.states[f"u{k}"].ravel() for k in range(1, layers + 1)])
    assert (u < 0).any() and (u > 1).any()
    if variant == "sparse":
        for k in range(1, layers + 1):
            assert (reference.states[f"a{k}"] > 0).any(), f"interneuron {k} never active"


def test_lr_factor(brian_device):
    """The epoch learning-rate factor scales the Hebbian updates on both sides and leaves B alone."""
    circuit = verification_instance("dense", 2, "B")
    errors, weights, half, _ = _equivalence(circuit, "numpy", lr_factor=0.5)
    _check(circuit, errors, weights, half)
    full = circuit.simulate_reference(weights, circuit.example_data(N_TRIALS, 0))
    for name in ("W_ff0", "W_ff1", "W_fb1"):
        np.testing.assert_allclose(half.weights[name][0] - weights[name], 0.5 * (full.weights[name][0] - weights[name]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(half.weights["B1"][0], full.weights["B1"][0], rtol=1e-13)


@pytest.mark.parametrize("variant,layers,lateral", [("dense", 2, "B"), ("sparse", 3, "DO")])
def test_weight_decay_equivalence(variant, layers, lateral, brian_device):
    """weight_decay = true on both sides (Brian2 applies it in the window update, torch after each update)."""
    circuit = verification_instance(variant, layers, lateral, weight_decay=True)
    errors, weights, reference, _ = _equivalence(circuit, "numpy", lr_factor=0.8)
    _check(circuit, errors, weights, reference)
    plain = verification_instance(variant, layers, lateral).simulate_reference(
        weights, circuit.example_data(N_TRIALS, 0), lr_factor=0.8)
    assert np.abs(plain.weights["W_ff0"][-1] - reference.weights["W_ff0"][-1]).max() > 1e-3  # the decay acts


@pytest.mark.extra  # the contract runs CorInfoMax on cython (Python 3.12 set, `make test-extra` under 3.11)
def test_cython_equivalence(brian_device):
    try:
        check_target("cython")
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    circuit = verification_instance("dense", 2, "B")
    errors, weights, reference, _ = _equivalence(circuit, "cython")
    _check(circuit, errors, weights, reference)


@pytest.mark.standalone
@pytest.mark.extra  # the sparse DO variant; the contract builds the dense default on cpp_standalone in `make test`
def test_cpp_standalone_equivalence(brian_device):
    try:
        check_target("cpp")
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    circuit = verification_instance("sparse", 2, "DO")
    errors, weights, reference, _ = _equivalence(circuit, "cpp")
    _check(circuit, errors, weights, reference)


def _cuda_or_skip():
    try:
        cuda_toolchain()
    except BackendUnavailableError as exc:
        pytest.skip(f"cuda_standalone toolchain unavailable: {exc}")


@pytest.mark.cuda_compile
def test_cuda_code_generation(tmp_path, brian_device):
    """brian2cuda generates code for the largest configuration (no network_operation, no store/restore)."""
    _cuda_or_skip()
    from brian2 import Network, get_device, second

    circuit = verification_instance("sparse", 3, "DO")
    weights, data = circuit.initial_weights(0), circuit.example_data(6, 0)
    activate("cuda")
    model = circuit.build_brian(weights, data)
    Network(*model.objects).run(model.n_steps * model.dt * second, namespace=model.namespace)
    get_device().build(directory=str(tmp_path), compile=False, run=False, with_output=False)
    sources = list((tmp_path / "code_objects").glob("*.cu"))
    assert any("layer3" in s.name for s in sources) and any("inter3" in s.name for s in sources)
    assert any("O3" in s.name for s in sources)
    makefile = (tmp_path / "makefile").read_text()
    assert "-std=c++17" in makefile


# ---- the Brian2 model's structure --------------------------------------------------------------------------------
def test_gauss_seidel_orders(brian_device):
    """Summed inputs of layer k run between layer k−1's update and layer k's: W_ff reads this sweep's rates."""
    activate("numpy")
    circuit = verification_instance("sparse", 3, "DO")
    model = circuit.build_brian(circuit.initial_weights(0), circuit.example_data(3, 0))
    objs = {o.name: o for o in model.objects}
    for k in range(1, 4):
        assert objs[f"layer{k}"].order == 4 * k
        (ff,) = objs[f"W_ff{k - 1}"].summed_updaters.values()
        assert objs[f"layer{k - 1}"].order < ff.order < objs[f"layer{k}"].order
        (sr,) = objs[f"to_inter{k}"].summed_updaters.values()
        assert objs[f"layer{k}"].order < sr.order < objs[f"inter{k}"].order
    for k in (1, 2):
        (fb,) = objs[f"W_fb{k}"].summed_updaters.values()
        assert fb.order < objs[f"layer{k + 1}"].order  # previous sweep's r^(k+1)


# ---- D/O form == B form -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["dense", "sparse"])
def test_do_equals_b(variant):
    b_form = verification_instance(variant, 3, "B")
    do_form = verification_instance(variant, 3, "DO")
    weights = b_form.initial_weights(0)
    data = b_form.example_data(N_TRIALS, 0)
    ref_b = b_form.simulate_reference(weights, data)
    ref_do = do_form.simulate_reference(weights, data)
    for name, states in ref_b.states.items():
        assert np.abs(ref_do.states[name] - states).max() <= TOL * np.abs(states).max(), name
    expected = b_form.lateral_do(ref_b.weights)
    for name in do_form.plastic_names():
        want = expected[name] if name in expected else ref_b.weights[name]
        assert ref_do.weights[name].shape == want.shape, name
        assert np.abs(ref_do.weights[name] - want).max() <= TOL * np.abs(want).max(), name


# ---- a third implementation: plain numpy from the equations ------------------------------------------------------
def numpy_corinfomax(p, weights, x, y, beta, jacobi=False):
    """CorInfoMax trial by trial and sample by sample (B form), matrices in the paper's (post, pre) orientation.

    Per trial: free phase from u = a = 0 (T_free sweeps, β = 0), one frozen step, nudged phase from u = σ(u_free),
    a = ReLU(a_free) (T_nudged sweeps, β = trial's signed β), one frozen step. Every ``batch`` trials:
    W_ff^(k) += lr/B Σ (1/β)(e→_n r^(k)_nᵀ − e→_f r^(k)_fᵀ); W_fb^(k) likewise; B ← (B − γ⟨z zᵀ⟩)/λ, z = B r_nud.
    Returns the states (n_trials, steps, N_k) per layer and the weights (stored orientation) after each update.
    """
    P = len(p.sizes) - 1
    sparse = p.variant == "sparse"
    eps, g, lam = p.epsilon, p.g_lk, p.lam
    gam = (1 - lam) / lam
    Wff = {k: np.array(weights[f"W_ff{k}"]).T for k in range(P)}  # (N_k+1, N_k)
    Wfb = {k: np.array(weights[f"W_fb{k}"]).T for k in range(1, P)}  # (N_k, N_k+1)
    Bl = {k: np.array(weights[f"B{k}"]).T for k in range(1, P + 1)}

    def sigma(v):
        return np.maximum(v, 0.0) if sparse else np.minimum(np.maximum(v, 0.0), 1.0)

    def step_size(s):
        return p.mu_u if p.mu_u_rule == "constant" else max(p.mu_u / (s * 0.01 + 1.0), 0.001)

    n_steps = p.t_free + p.t_nudged + 2
    states = {k: np.zeros((len(x), n_steps, p.sizes[k])) for k in range(1, P + 1)}
    inter = {k: np.zeros((len(x), n_steps)) for k in range(1, P + 1)}
    history = {}
    acc_ff = {k: np.zeros_like(Wff[k]) for k in Wff}
    acc_fb = {k: np.zeros_like(Wfb[k]) for k in Wfb}
    acc_z = {k: np.zeros_like(Bl[k]) for k in Bl}

    for n in range(len(x)):
        u = {k: np.zeros(p.sizes[k]) for k in range(1, P + 1)}
        a = {k: 0.0 for k in range(1, P + 1)}
        col = 0

        def sweep(mu, b):
            r = {0: x[n]}
            for k in range(1, P + 1):
                r[k] = sigma(u[k])
            old = dict(r)
            for k in range(1, P + 1):
                below = old[k - 1] if jacobi else r[k - 1]
                rk = old[k]
                q = max(a[k], 0.0)
                if k < P:
                    du = (-g * u[k] + g * rk + 2 * gam * Bl[k] @ rk + (Wff[k - 1] @ below - u[k]) / eps
                          + (Wfb[k] @ old[k + 1] - u[k]) / eps)
                    mu_a = p.mu_a[0]
                else:
                    du = -g * u[k] + g * rk + gam * Bl[k] @ rk + (Wff[k - 1] @ below - u[k]) / eps - u[k] - b * (rk - y[n])
                    mu_a = p.mu_a[1]
                if sparse:
                    du = du - q
                u[k] = u[k] + mu * du
                r[k] = sigma(u[k])
                if sparse:
                    a[k] = a[k] + mu_a * (-a[k] + r[k].sum() - 1.0 + q)

        def record():
            nonlocal col
            for k in range(1, P + 1):
                states[k][n, col] = u[k]
                inter[k][n, col] = a[k]
            col += 1

        for s in range(p.t_free):
            sweep(step_size(s), 0.0)
            record()
        record()  # frozen step
        r_free = {0: x[n], **{k: sigma(u[k]) for k in u}}
        for k in u:
            u[k] = sigma(u[k])
            a[k] = max(a[k], 0.0)
        for s in range(p.t_nudged):
            sweep(step_size(s), beta[n])
            record()
        record()  # frozen step
        r_nud = {0: x[n], **{k: sigma(u[k]) for k in u}}
        for k in range(P):
            e_n = r_nud[k + 1] - Wff[k] @ r_nud[k]
            e_f = r_free[k + 1] - Wff[k] @ r_free[k]
            acc_ff[k] += (np.outer(e_n, r_nud[k]) - np.outer(e_f, r_free[k])) / beta[n]
        for k in range(1, P):
            e_n = r_nud[k] - Wfb[k] @ r_nud[k + 1]
            e_f = r_free[k] - Wfb[k] @ r_free[k + 1]
            acc_fb[k] += (np.outer(e_n, r_nud[k + 1]) - np.outer(e_f, r_free[k + 1])) / beta[n]
        for k in range(1, P + 1):
            z = Bl[k] @ r_nud[k]
            acc_z[k] += np.outer(z, z)
        if (n + 1) % p.batch == 0:
            for k in range(P):
                Wff[k] = Wff[k] + p.lr_ff[k] / p.batch * acc_ff[k]
                acc_ff[k][:] = 0
                history.setdefault(f"W_ff{k}", []).append(Wff[k].T.copy())
            for k in range(1, P):
                Wfb[k] = Wfb[k] + p.lr_fb[k - 1] / p.batch * acc_fb[k]
                acc_fb[k][:] = 0
                history.setdefault(f"W_fb{k}", []).append(Wfb[k].T.copy())
            for k in range(1, P + 1):
                Bl[k] = (Bl[k] - gam * acc_z[k] / p.batch) / lam
                acc_z[k][:] = 0
                history.setdefault(f"B{k}", []).append(Bl[k].T.copy())
    return states, inter, {k: np.stack(v) for k, v in history.items()}


@pytest.mark.parametrize("variant", ["dense", "sparse"])
def test_third_implementation(variant):
    """Tiny 3-layer circuit, one window of 2 trials + its update, inputs ×3 so clipping and interneurons act."""
    circuit = verification_instance(
        variant, 3, "B", sizes=(5, 4, 3, 3), lr_ff=(0.3, 0.2, 0.1), lr_fb=(0.1, 0.05), t_free=8, t_nudged=5, batch=2
    )
    p = circuit.params
    weights = circuit.initial_weights(3)
    data = circuit.example_data(2, 3)
    data["x"] = 3.0 * data["x"]
    data["beta"] = np.array([-1.0, -1.0])
    ref = circuit.simulate_reference(weights, data)
    states, inter, history = numpy_corinfomax(p, weights, data["x"], data["y"], data["beta"])
    for k in range(1, 4):
        np.testing.assert_allclose(ref.states[f"u{k}"], states[k], rtol=0, atol=1e-13)
        if variant == "sparse":
            np.testing.assert_allclose(ref.states[f"a{k}"][..., 0], inter[k], rtol=0, atol=1e-13)
    assert set(history) == set(ref.weights)
    for name, hist in history.items():
        np.testing.assert_allclose(ref.weights[name], hist, rtol=0, atol=1e-14)
        assert np.abs(hist[0] - weights[name]).max() > 1e-4, name
    if variant == "sparse":
        assert max(inter[k].max() for k in inter) > 0
    # the check is sensitive to the update order: a Jacobi sweep gives visibly different states
    jac, _, _ = numpy_corinfomax(p, weights, data["x"], data["y"], data["beta"], jacobi=True)
    assert max(np.abs(jac[k] - states[k]).max() for k in jac) > 1e-3


# ---- the fast trainer does the same math ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant,layers,lateral,decay", [(*c, False) for c in CONFIGS] + [("dense", 3, "B", True)],
                         ids=["-".join(map(str, c)) for c in CONFIGS] + ["dense-3-B-weight_decay"])
def test_fast_trainer_matches_reference(variant, layers, lateral, decay):
    """One float64 epoch of circuits.corinfomax.trainer == the reference on the same sample order and β signs."""
    from circuits.corinfomax.trainer import CorInfoMaxTrainer, batch_plan

    circuit = verification_instance(variant, layers, lateral, weight_decay=decay)
    p = circuit.params
    rng = np.random.default_rng(1)
    x = 3.0 * rng.uniform(0, 1, size=(N_TRIALS, p.sizes[0]))
    labels = rng.integers(0, p.sizes[-1], size=N_TRIALS)
    seed, epoch = 5, 1 if decay else 0
    trainer = CorInfoMaxTrainer(p, seed, dtype=torch.float64, threads=1)
    trainer.train_epoch(x, labels, epoch)
    order, signs = batch_plan(N_TRIALS, p.batch, seed, epoch)
    data = {
        "x": x[order],
        "y": np.eye(p.sizes[-1])[labels[order]],
        "beta": np.repeat(signs * p.beta, p.batch)[:N_TRIALS].astype(float),
    }
    ref = circuit.simulate_reference(circuit.initial_weights(seed), data, lr_factor=p.lr_factor(epoch))
    fast = trainer.weights()
    if lateral == "DO":
        fast = {**{k: v for k, v in fast.items() if not k.startswith("B")}, **circuit.lateral_do(fast)}
    for name, hist in ref.weights.items():
        assert np.abs(fast[name] - hist[-1]).max() <= TOL * np.abs(hist[-1]).max(), name


# ---- registry, verification instances, bad inputs -----------------------------------------------------------------
def test_registry_and_verification_instances():
    dense = get_circuit("corinfomax")
    sparse = get_circuit("corinfomax-sparse")
    assert isinstance(dense, CorInfoMax) and dense.params.variant == "dense" and dense.params.sizes == (784, 500, 10)
    assert isinstance(sparse, CorInfoMaxSparse) and sparse.params.variant == "sparse"
    small = get_circuit("corinfomax-sparse", lateral_update="DO").verification_circuit()
    assert small.params.variant == "sparse" and small.params.lateral_update == "DO" and small.params.sizes == (12, 8, 4)
    deep = get_circuit("corinfomax", sizes=[784, 500, 500, 10], lr_ff=[1.1, 0.75, 0.6], lr_fb=[0.17, 0.07])
    assert deep.verification_circuit().params.sizes == (12, 8, 6, 4)
    assert CorInfoMaxSparse.verification_instance(3).params.variant == "sparse"
    assert verification_instance("corinfomax-sparse", 3).params.sizes == (12, 8, 6, 4)
    sch = dense.schedule
    assert [ph.name for ph in sch.phases] == ["free", "free_end", "nudged", "nudged_end"]
    assert sch.trial_steps == 30 + 10 + 2 and sch.trials_per_update == 20
    w = small.initial_weights(0)
    assert {k: v.shape for k, v in w.items()} == small.weight_shapes()
    d = small.example_data(7, 0)
    assert d["x"].shape == (7, 12) and d["y"].shape == (7, 4) and d["beta"].shape == (7,)
    assert np.all(d["y"].sum(axis=1) == 1) and d["x"].min() >= 0 and d["x"].max() <= 1
    signs = d["beta"].reshape(-1)
    assert np.all(np.abs(signs) == 1.0) and signs[0] == signs[1] == signs[2] and signs[3] == signs[4] == signs[5]


def test_verification_circuit_overrides_on_small_instance():
    """`neuromorph verify corinfomax --set params.K=V`: the small instance with K=V on top, not the full network."""
    small = get_circuit("corinfomax").verification_circuit(t_free=7, weight_decay=True)
    assert small.params.sizes == (12, 8, 4) and small.params.t_free == 7 and small.params.weight_decay
    assert small.params.lam == 0.99 and small.params.batch == 3
    deep = get_circuit("corinfomax-sparse").verification_circuit(sizes=[12, 8, 6, 4], lateral_update="DO")
    assert deep.params.variant == "sparse" and deep.params.lateral_update == "DO"
    assert deep.params.sizes == (12, 8, 6, 4) and len(deep.params.lr_ff) == 3 and len(deep.params.lr_fb) == 2
    dense = get_circuit("corinfomax-sparse").verification_circuit(variant="dense")
    assert type(dense) is CorInfoMaxSparse and dense.params.variant == "dense"
    with pytest.raises(ConfigError, match="t_fre"):
        get_circuit("corinfomax").verification_circuit(t_fre=3)
    assert get_circuit("corinfomax").trainer_options()["kernel"] == "auto"
    with pytest.raises(ConfigError, match="kernal"):
        get_circuit("corinfomax", sizes=[12, 8, 4], lr_ff=[0.1, 0.1]).make_trainer(12, 4, 0, kernal="cpp")


def test_reference_and_trainer_import_no_brian2():
    """The torch reference (and the fast trainer) are independent of the Brian2 builder: importing them in a
    fresh interpreter loads neither brian2 nor brian_model / equations."""
    import subprocess
    import sys

    code = (
        "import sys, circuits.corinfomax.reference, circuits.corinfomax.trainer\n"
        "bad = [m for m in sys.modules if m == 'brian2' or m.startswith('brian2.')\n"
        "       or m in ('circuits.corinfomax.brian_model', 'circuits.corinfomax.equations')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_variant():
    for make in (lambda: CorInfoMax(variant="bogus"), lambda: get_circuit("corinfomax", variant="bogus"),
                 lambda: verification_instance("bogus")):
        with pytest.raises(ConfigError) as info:
            make()
        assert "bogus" in str(info.value) and "dense" in str(info.value) and "sparse" in str(info.value)


@pytest.mark.parametrize("side", ["brian", "torch"])
def test_bad_shapes(side, brian_device):
    circuit = verification_instance("dense", 2, "B")
    weights, data = circuit.initial_weights(0), circuit.example_data(3, 0)
    run = (lambda w, d: circuit.build_brian(w, d)) if side == "brian" else circuit.simulate_reference
    if side == "brian":
        activate("numpy")

    bad = dict(weights, W_ff0=np.zeros((11, 8)))
    with pytest.raises(ShapeError, match=r"'W_ff0'.*\(11, 8\).*expected \(12, 8\)"):
        run(bad, data)
    bad = dict(weights, W_fb1=np.zeros((8, 4)))
    with pytest.raises(ShapeError, match=r"'W_fb1'.*expected \(4, 8\)"):
        run(bad, data)
    with pytest.raises(ShapeError, match=r"missing \['B2'\]"):
        run({k: v for k, v in weights.items() if k != "B2"}, data)
    with pytest.raises(ShapeError, match=r"'x'.*\(3, 5\).*expected \(n_trials, 12\)"):
        run(weights, dict(data, x=data["x"][:, :5]))
    with pytest.raises(ShapeError, match=r"'y'.*expected \(n_trials, 4\)"):
        run(weights, dict(data, y=np.zeros((3, 10))))
    with pytest.raises(ShapeError, match=r"'beta'"):
        run(weights, dict(data, beta=np.ones(2)))
    with pytest.raises(ConfigError, match="non-zero"):
        run(weights, dict(data, beta=np.zeros(3)))
