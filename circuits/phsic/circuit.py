"""pHSIC, streaming form (Pogodin & Latham 2020): the two-point three-factor Hebbian rule as a circuit.

The paper trains with the batch form of the gradient (eq. 40; ``circuits.phsic.batch``) "only to make
large-scale simulations computationally feasible" (§4.1). What makes the rule biologically plausible is its
streaming form (§3.2-3.4, Appendix C): two samples seen one after the other, a memory of the first, and a
layer-specific third factor computed by a few dedicated neurons. That form is what this module simulates,
as a Brian2 equation model and an independent torch twin, with the same schedule and step order.

Read it next to the paper, top to bottom.

Network (eq. 1; §2.5 of ../shared/notes/reference-code.md). Sizes ``(N_0, N_1, ..., N_L, C)``: input,
hidden layers, classes. Hidden layer k receives the previous layer's output h^{k-1} (h^0 = x):

    a^k = W^k h^{k-1},   z^k = f(a^k) = LReLU(a^k),   g^k = f'(a^k)                             (eq. 1)
    plain:    h^k = z^k
    divnorm:  groups α of n_α = N_k/c contiguous neurons, one normalising interneuron per group,
              z̄_α = mean_α z,  u_α = (‖z^k_α − z̄_α‖² + δ)/n_α,  h^k_αn = r_αn = (z_αn − z̄_α)/u_α^p   (eqs. 17, 21)

A fixed linear readout o = W_outᵀ h^L + b_out is part of the circuit (the paper trains it with
cross-entropy on precise labels only to measure accuracy; in the streaming circuit it is not plastic).

Two-point update (eqs. 12-13, 41; Appendix C). Every trial presents one pair of samples:

    sample_a  (t_sample steps)  sample a clamped; at its last step the gate ``store`` writes each
              neuron's memory of the sample: h_a, g_a (and w_a = u^(1-p) of every group interneuron).
              This is the memory of the last large deviation of eqs. (15)-(16), scenario B, taken in its
              ideal limit: a sample-and-hold of the settled activity (see "What is idealised" below).
    sample_b  (t_sample steps)  sample b clamped; the third-factor neurons compare it with the memory.
              At its last step the gate ``centre`` updates the running average b3 (eq. 61).
    update    (t_update steps)  sample b stays; the third factor reaches the layer (one step per
              synaptic relay) and at the last step the gate ``learn`` forms the weight change.

Third-factor neurons of layer k (Appendix C.1, eqs. 59-62), one unit each:

    b1:  plain:    b1 = Σ_n (z_n − z_a,n)²                                                    (eq. 59)
         divnorm:  b1 = Σ_α (Δv_α)² with Δv_α = Δw_α − mean_α' Δw_α', w = u^(1-p)               (eqs. 18, 64-65)
         rate kz = exp(−b1/2σ²) = k(z_b, z_a)                                                  (eq. 26, 19)
    b2:  b2 = γ k_y − 2 kz                                                                    (eq. 60)
    b3:  b3 ← β b2 + (1 − β) b3 at the end of sample_b (running mean: the centring of eq. 11)  (eq. 61)
         rate M = −(b2 − b3) kz/σ²                                                             (eq. 62)

The label kernel k_y is computed by one unit K from the label populations (centred cosine of one-hot
labels, eq. 35): k_y = (C y_b·y_a − 1)/(C − 1) (or y_b·y_a uncentred). It is shared by all layers, the
"teaching signal coming from other sensory areas" of §5.

Weight change at the last step of ``update``, for synapse m → n of layer k (pre h^{k-1}, post layer k):

    plain    ΔW_nm = η M (z_n,b − z_n,a)(g_n,b h_m,b − g_n,a h_m,a)                    (eq. 41; = eq. 12a, 57 for f' = 1)
    divnorm  ΔW_nm = η (2(1−p)/n_α) M_α (r_n,b g_n,b h_m,b − r_n,a g_n,a h_m,a),
             M_α = M · Δv_α  (the group interneuron's signal)                             (eqs. 48, 63, 66)

Each product is local: the post neuron holds z (or r), g and their memories, the pre neuron h and its
memory, the neuromodulator M (M_α) arrives through synapses. ``pairs_per_update`` pairs are accumulated and
their mean applied (1 = pure streaming; averaging over all m² ordered pairs of a batch with b3 held at the
batch mean of b2 gives exactly −η dL/dW of eq. 40, tests/test_phsic_circuit.py). No momentum, weight decay
or dropout in the streaming circuit.

Sign: with b2 − b3 = γ k̊_y − 2 k̊_z, the update is −η (2 k̊_z − γ k̊_y) dk/dW (eq. 40 for one pair):
gradient descent on pHSIC(Z, Z) − γ pHSIC(Y, Z) (eq. 9).

Dynamics and step order. All units are instantaneous rate maps (no ODE: the rate is a function of the
summed input, as in a leaky integrator at steady state). Within an integration step the groups are
evaluated bottom-up in one Gauss-Seidel sweep (Brian2 computes a summed variable at the order of its target
minus one): X, Y (inputs), L1, N1, L2, N2, ..., O (readout), K, then b1, b2, b3 of every layer. A signal
that flows back down the sweep (normalisation statistics N_k → L_k, the third factor b3 → L_k or
b3 → N_k → L_k, the mean Δw b1 → N_k) arrives one step later. Hence the minimum durations:

    plain:    t_sample = 1,      t_update = 1 (M: b3 → L)
    divnorm:  t_sample = L + 1 (r^k settles one step after z^k), t_update = 2 (M: b3 → N → L)

With constant inputs every quantity is then exactly at its steady state when a gate reads it; longer phases
give the same numbers. Gates run in the ``end`` slot after the sweep; recorded states are the values after
each step (Brian2's ``end`` slot), which is what the torch twin returns too.

Trial data: each trial carries both samples, ``x_a``, ``x_b`` (n_trials, N_0) and one-hot ``y_a``, ``y_b``
(n_trials, C). :meth:`PHSIC.trial_data` turns a stream of samples s_0, s_1, ... into pairs
(s_{t-1}, s_t) (cyclically), i.e. every new sample is compared with the one before it.

What is idealised or left out: the memory of eq. (15) is an exact sample-and-hold at the end of sample a
(eq. 15's ODE only approximates z − μ for |z − μ| ≫ 1); the temporal-derivative kernel κ of eqs. (14)/(16)
is replaced by the explicit difference of the current and memorised values; the readout is fixed; only the
Gaussian kernel is supported (the cosine kernel's rule is implausible, Appendix B.4) in modes "plain" and
"divnorm" (grouping without divisive normalisation is not Hebbian, §3.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

from .params import PHSICParams

__all__ = ["PHSIC", "PHSICCircuitParams", "STREAMING_MODES"]

STREAMING_MODES = ("plain", "divnorm")


@dataclass(frozen=True)
class PHSICCircuitParams(PHSICParams):
    """The batch-form hyperparameters (:class:`PHSICParams`, used as they are by the trainer) plus the
    streaming circuit's own. In the streaming circuit ``lr_local`` is η of the two-point update; ``sizes``,
    ``sigma``, ``gamma``, ``mode``, ``n_groups``, ``delta``, ``p``, ``leaky_slope`` and ``center_labels`` mean
    what they mean in the batch form; the optimiser, learning-rate schedule, dropout, ``rule`` and ``gradient``
    fields only concern the trainer (the streaming circuit always runs the pHSIC two-point rule)."""

    beta_avg: float = 0.05  # β of the running average b3 (eq. 61); the paper gives no value
    b3_init: tuple[float, ...] = ()  # b3 of every hidden layer at t = 0 (empty: all 0)
    pairs_per_update: int = 1  # pairs accumulated per weight update (1: every pair, pure streaming)
    t_sample: int = 0  # steps per sample phase (0: the minimum, 1 plain / L+1 divnorm)
    t_update: int = 0  # steps of the update phase (0: the minimum, 1 plain / 2 divnorm)

    def check_streaming(self) -> None:
        """The streaming circuit's limits (the batch-form trainer has none of them: any kernel, any mode)."""
        if self.kernel != "gaussian":
            raise ConfigError(
                f"kernel: the streaming pHSIC circuit implements the Gaussian kernel only, got {self.kernel!r} "
                "(the cosine kernel's two-point rule needs three plasticity pathways, Appendix B.4; train it with "
                "the batch form: `neuromorph run` uses it)"
            )
        if self.mode not in STREAMING_MODES:
            raise ConfigError(
                f"mode: the streaming circuit supports {list(STREAMING_MODES)}, got {self.mode!r} (grouping "
                "without divisive normalisation has no Hebbian two-point rule, §3.4)"
            )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.beta_avg <= 1.0:
            raise ConfigError(f"beta_avg: β of eq. 61 must lie in [0, 1], got {self.beta_avg!r}")
        n_hidden = len(self.sizes) - 2
        b3 = tuple(self.b3_init)
        if len(b3) not in (0, n_hidden) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b3):
            raise ConfigError(f"b3_init: give no value or one number per hidden layer ({n_hidden}), got {b3!r}")
        object.__setattr__(self, "b3_init", tuple(float(v) for v in b3))
        for name in ("pairs_per_update",):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {v!r}")
        mins = {"t_sample": self.min_t_sample, "t_update": self.min_t_update}
        for name, least in mins.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (v != 0 and v < least):
                raise ConfigError(
                    f"{name}: must be 0 (the minimum) or an integer >= {least} for mode {self.mode!r} with "
                    f"{n_hidden} hidden layer(s) (signals must settle before a gate reads them), got {v!r}"
                )

    # ---- derived ----------------------------------------------------------------------------------------------
    @property
    def n_hidden_layers(self) -> int:
        return len(self.sizes) - 2

    @property
    def min_t_sample(self) -> int:
        return 1 if self.mode == "plain" else self.n_hidden_layers + 1

    @property
    def min_t_update(self) -> int:
        return 1 if self.mode == "plain" else 2

    @property
    def steps_sample(self) -> int:
        return self.t_sample or self.min_t_sample

    @property
    def steps_update(self) -> int:
        return self.t_update or self.min_t_update

    def b3_start(self, k: int) -> float:
        """Initial b3 of hidden layer k (1-based)."""
        return self.b3_init[k - 1] if self.b3_init else 0.0

    def group_size(self, k: int) -> int:
        return self.sizes[k] // self.n_groups if self.mode == "divnorm" else self.sizes[k]

    def lr_effective(self, k: int) -> float:
        """η, times 2(1−p)/n_α in divnorm (eq. 48), divided by the pairs averaged per update."""
        c = 2.0 * (1.0 - self.power) / self.group_size(k) if self.mode == "divnorm" else 1.0
        return self.lr_local * c / self.pairs_per_update

    def batch_params(self) -> PHSICParams:
        """The fields the batch form shares, as the trainer's :class:`PHSICParams`."""
        return PHSICParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PHSICParams)})


def _verification_overrides(mode: str) -> dict:
    """Small sizes, kernel widths that spread k(z_a, z_b) over (0.5, 1), learning rates that move the weights
    by ~1e-2 per update, a fast running average."""
    kw = dict(
        sizes=(6, 8, 6, 3),
        mode=mode,
        n_groups=2,  # groups of 4 and 3 neurons
        gamma=2.0,
        leaky_slope=0.1,
        beta_avg=0.3,
        b3_init=(-2.0, -2.5),
        pairs_per_update=2,
    )
    if mode == "divnorm":  # v = centred u^(1-p) changes little between samples: a narrow kernel, small δ
        kw.update(sigma=0.05, delta=0.1, lr_local=0.02)
    else:
        kw.update(sigma=1.0, lr_local=0.5)
    return kw


def _lrelu_torch(a: torch.Tensor, slope: float) -> torch.Tensor:
    return a.clamp(min=0) + slope * a.clamp(max=0)


def _lrelu_prime_torch(a: torch.Tensor, slope: float) -> torch.Tensor:
    return (a > 0).to(a.dtype) + slope * (a <= 0).to(a.dtype)


class PHSIC(Circuit):
    """Streaming pHSIC: rate layers, memory, third-factor neurons b1-b3, divisive-normalisation interneurons."""

    name = "phsic"
    Params = PHSICCircuitParams
    description = "pHSIC (Pogodin & Latham 2020): two-point three-factor Hebbian rule, Gaussian kernel, divisive normalisation"

    # ---- structure -------------------------------------------------------------------------------------------
    @property
    def schedule(self) -> PhaseSchedule:
        p = self.params
        inputs = ("x", "y")
        return PhaseSchedule(
            (
                Phase("sample_a", p.steps_sample, clamp=inputs, gates=("store",)),
                Phase("sample_b", p.steps_sample, clamp=inputs, gates=("centre",)),
                Phase("update", p.steps_update, clamp=inputs, gates=("learn",)),
            ),
            trials_per_update=p.pairs_per_update,
        )

    @property
    def n_layers(self) -> int:
        return self.params.n_hidden_layers

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        N = self.params.sizes
        L = self.n_layers
        shapes = {f"W{k}": (N[k - 1], N[k]) for k in range(1, L + 1)}
        shapes["W_out"] = (N[L], N[L + 1])
        shapes["b_out"] = (N[L + 1],)
        return shapes

    def plastic_names(self) -> tuple[str, ...]:
        return tuple(f"W{k}" for k in range(1, self.n_layers + 1))

    def state_names(self) -> tuple[str, ...]:
        names = []
        for k in range(1, self.n_layers + 1):
            names += [f"z{k}"] + ([f"r{k}", f"u{k}"] if self.params.mode == "divnorm" else [])
            names += [f"mod{k}", f"b1_{k}", f"b2_{k}", f"b3_{k}", f"M{k}"]
        return tuple(names + ["ky", "o"])

    # ---- checks ------------------------------------------------------------------------------------------------
    def _check_data(self, data: TrialData) -> int:
        N = self.params.sizes
        n_in, C = N[0], N[-1]
        for key in ("x_a", "x_b", "y_a", "y_b"):
            if key not in data:
                raise ShapeError(
                    f"{self.name}: trial data needs 'x_a', 'x_b' (n_trials, {n_in}) and one-hot 'y_a', 'y_b' "
                    f"(n_trials, {C}); missing {key!r}"
                )
        xa, xb, ya, yb = (np.asarray(data[k], dtype=float) for k in ("x_a", "x_b", "y_a", "y_b"))
        if xa.ndim != 2 or xa.shape[1] != n_in:
            raise ShapeError(f"{self.name}: inputs 'x_a' have shape {xa.shape}, expected (n_trials, {n_in})")
        n = xa.shape[0]
        if xb.shape != (n, n_in):
            raise ShapeError(f"{self.name}: inputs 'x_b' have shape {xb.shape}, expected ({n}, {n_in})")
        for key, y in (("y_a", ya), ("y_b", yb)):
            if y.shape != (n, C):
                raise ShapeError(f"{self.name}: labels {key!r} have shape {y.shape}, expected ({n}, {C}) one-hot")
            if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
                raise ShapeError(f"{self.name}: labels {key!r} must be one-hot rows (the label kernel is eq. 35)")
        if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(xb))):
            raise ShapeError(f"{self.name}: inputs contain NaN or inf")
        return n

    # ---- weights and data --------------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        """The batch trainer's initialisation (PyTorch's nn.Linear law), so both forms start identically."""
        from .batch import initial_weights

        w = initial_weights(self.params.batch_params(), seed, dtype=torch.float64)
        out = {k: (v.T if v.ndim == 2 else v).numpy().astype(float).copy() for k, v in w.items()}
        self.check_weights(out)
        return out

    def trial_data(self, x: np.ndarray, labels: np.ndarray) -> TrialData:
        """A stream of samples → pairs (s_{t-1}, s_t), t = 0..n-1 (s_{-1} = s_{n-1}): one trial per sample."""
        N = self.params.sizes
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != N[0] or len(x) < 1:
            raise ShapeError(f"{self.name}: samples have shape {x.shape}, the circuit expects (n >= 1, {N[0]})")
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ShapeError(f"{self.name}: labels have shape {labels.shape}, expected ({len(x)},)")
        if labels.min() < 0 or labels.max() >= N[-1]:
            raise ShapeError(f"{self.name}: labels must lie in [0, {N[-1]}), got [{labels.min()}, {labels.max()}]")
        y = np.eye(N[-1])[labels.astype(int)]
        prev = np.roll(np.arange(len(x)), 1)
        return {"x_a": x[prev], "x_b": x, "y_a": y[prev], "y_b": y}

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        """A seeded stream of inputs uniform in [−1, 1] (the paper's data range), paired as in :meth:`trial_data`.

        Labels are temporally correlated (each repeats the previous one with probability 1/2, else is drawn
        anew), so that pairs of the same class (k_y = 1) and of different classes (k_y = −1/(C−1)) both occur.
        """
        self.params.check_streaming()
        N = self.params.sizes
        rng = np.random.default_rng(seed + 4242)
        x = rng.uniform(-1.0, 1.0, size=(n_trials, N[0]))
        labels = rng.integers(0, N[-1], size=n_trials)
        repeat = rng.random(n_trials) < 0.5
        for t in range(1, n_trials):
            if repeat[t]:
                labels[t] = labels[t - 1]
        return self.trial_data(x, labels)

    def example_inputs(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs uniform in [−1, 1] and labels for inference: the stream of :meth:`example_data` (its samples b)."""
        ex = self.example_data(n_samples, seed)
        return ex["x_b"], ex["y_b"].argmax(axis=1)

    # ---- verification instance -----------------------------------------------------------------------------------
    @classmethod
    def verification_instance(cls, mode: str = "divnorm", **overrides) -> PHSIC:
        """Sizes (6, 8, 6, 3), 2 groups per layer, σ = 1, η = 0.5, β = 0.3, 2 pairs per update."""
        kw = _verification_overrides(mode)
        kw.update(overrides)
        return cls(make_params(PHSICCircuitParams, kw, where=f"{cls.name} verification parameters"))

    def verification_circuit(self) -> PHSIC:
        """The small instance of this circuit's mode (`neuromorph verify phsic`)."""
        return type(self).verification_instance(self.params.mode)

    # ---- trainer -----------------------------------------------------------------------------------------------
    def make_trainer(self, n_in: int, n_classes: int, seed: int, dtype=torch.float32):
        """The batch-form trainer (``circuits.phsic.batch.PHSICTrainer``) with this circuit's parameters."""
        N = self.params.sizes
        if (n_in, n_classes) != (N[0], N[-1]):
            raise ShapeError(
                f"{self.name} is configured for sizes {list(N)} but the data has {n_in} features and {n_classes} "
                f"classes; set params.sizes = {[n_in, *N[1:-1], n_classes]}"
            )
        from .batch import PHSICTrainer

        return PHSICTrainer(self.params.batch_params(), n_in, n_classes, seed, dtype=dtype)

    # ---- Brian2 model --------------------------------------------------------------------------------------------
    def build_brian(self, weights, data):
        """Groups (order = position in the sweep; a summed variable runs at its target's order − 1):

        X, Y (0) → L_k (10k) → N_k (10k+5, divnorm) → O (10(L+1)) → K (1000) → b1_k, b2_k, b3_k (1000+10k+2/4/6).
        """
        self.params.check_streaming()
        from brian2 import NeuronGroup, Synapses, TimedArray, second

        from neuromorph.brian import BrianModel, set_weight_matrix

        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        N, L, C = p.sizes, self.n_layers, p.sizes[-1]
        divnorm = p.mode == "divnorm"
        T, dt = sch.trial_steps, self.dt
        rows = T * dt * second  # one TimedArray row per trial
        tas = {k: TimedArray(np.asarray(data[k], dtype=float), dt=rows, name=f"{k}_in") for k in ("x_a", "x_b", "y_a", "y_b")}
        flags = sch.brian_flags()
        slope, sig2 = float(p.leaky_slope), float(p.sigma) ** 2
        objects, probes = [], {}

        def group(n, eqs, name, order, with_flags=False):
            G = NeuronGroup(n, (flags + "\n" if with_flags else "") + eqs, name=name, order=order, method="euler")
            objects.append(G)
            return G

        def relay(pre, post, assignments, name, i=None, j=None):
            """Plastic-free synapses carrying ``assignments`` ('target_post = expr' lines, summed)."""
            S = Synapses(pre, post, "\n".join(f"{a} : 1 (summed)" for a in assignments), name=name)
            if i is None:
                S.connect()
            else:
                S.connect(i=np.asarray(i), j=np.asarray(j))
            objects.append(S)
            return S

        def store(G, pairs):
            code = "\n".join(f"{m} = gate_store*{v} + (1 - gate_store)*{m}" for m, v in pairs)
            G.run_regularly(code, when="end", order=0, name=f"{G.name}_store")

        # inputs and labels (clamped in every phase; sample a in phase sample_a, sample b afterwards)
        X = group(
            N[0], "out = clamp_x*(in_sample_a*x_a_in(t, i) + (1 - in_sample_a)*x_b_in(t, i)) : 1\nout_a : 1", "X", 0, True
        )
        Y = group(C, "out = clamp_y*(in_sample_a*y_a_in(t, i) + (1 - in_sample_a)*y_b_in(t, i)) : 1\nout_a : 1", "Y", 0, True)
        store(X, [("out_a", "out")])
        store(Y, [("out_a", "out")])

        pre, layers, norms, b1s, b3s, syns = X, {}, {}, {}, {}, {}
        for k in range(1, L + 1):
            n, na, c = N[k], p.group_size(k), p.n_groups
            eq_L = f"""
            I : 1      # W^k h^(k-1), summed (eq. 1)
            mod : 1    # third factor arriving at the neuron: M (plain, eq. 62) or M_alpha (divnorm, eq. 66)
            z = clip(I, 0, inf) + {slope!r}*clip(I, -inf, 0) : 1
            g = int(I > 0) + {slope!r}*int(I <= 0) : 1
            out_a : 1  # memory of the forwarded activity at sample a (eq. 15-16, ideal hold)
            g_a : 1    # memory of f'(a) at sample a
            """
            if divnorm:
                eq_L += f"""
            zbar : 1   # group mean, from the group's interneuron
            u : 1      # u_alpha (eq. 17), from the group's interneuron
            r = (z - zbar)/u**{p.power!r} : 1   # divisive normalisation (eq. 21)
            out = r : 1
            """
            else:
                eq_L += "\nout = z : 1\n"
            Lk = group(n, eq_L, f"L{k}", 10 * k, True)
            store(Lk, [("out_a", "out"), ("g_a", "g")])
            layers[k] = Lk
            S = Synapses(pre, Lk, "w : 1\nacc : 1\nI_post = w*out_pre : 1 (summed)", name=f"W{k}")
            set_weight_matrix(S, np.asarray(weights[f"W{k}"], dtype=float))
            if divnorm:  # eq. 48 / 63a: difference of pre-post products, r g h
                hebb = "out_post*g_post*out_pre - out_a_post*g_a_post*out_a_pre"
            else:  # eq. 41: difference of post activity times difference of f' h
                hebb = "(out_post - out_a_post)*(g_post*out_pre - g_a_post*out_a_pre)"
            S.run_regularly(f"acc += gate_learn_post*mod_post*({hebb})", when="end", order=1, name=f"W{k}_learn")
            S.run_regularly(
                f"w += apply_update_post*{p.lr_effective(k)!r}*acc\nacc = acc*(1 - apply_update_post)",
                when="end",
                order=2,
                name=f"W{k}_apply",
            )
            objects.append(S)
            syns[k] = S
            probes[f"z{k}"] = (Lk, "z")
            probes[f"mod{k}"] = (Lk, "mod")
            if divnorm:
                probes[f"r{k}"] = (Lk, "r")
                Nk = group(
                    c,
                    f"""
                    S1 : 1     # sum of z over the group
                    S2 : 1     # sum of z^2 over the group
                    zbar = S1/{float(na)!r} : 1
                    u = (S2 - S1*zbar + {float(p.delta)!r})/{float(na)!r} : 1   # eq. 17
                    w = u**{1.0 - p.power!r} : 1                               # eq. 18 before centring
                    w_a : 1    # memory of w at sample a
                    Mc : 1     # global third factor M from b3 (eq. 62)
                    dmean : 1  # mean over groups of (w - w_a), from b1 (centring of v, eq. 18)
                    Malpha = Mc*(w - w_a - dmean) : 1                            # eq. 66: M * Delta v_alpha (eq. 64)
                    """,
                    f"L{k}_norm",
                    10 * k + 5,
                    True,
                )
                store(Nk, [("w_a", "w")])
                norms[k] = Nk
                probes[f"u{k}"] = (Nk, "u")
                member = np.arange(n)
                relay(Lk, Nk, ["S1_post = z_pre", "S2_post = z_pre*z_pre"], f"L{k}_to_norm", member, member // na)
                relay(Nk, Lk, ["zbar_post = zbar_pre", "u_post = u_pre", "mod_post = Malpha_pre"], f"L{k}_norm_to_L", member // na, member)
            pre = Lk

        O = group(N[-1], "I : 1\nb : 1\no = I + b : 1", "O", 10 * (L + 1))
        O.b = np.asarray(weights["b_out"], dtype=float)
        W_out = Synapses(pre, O, "w : 1\nI_post = w*out_pre : 1 (summed)", name="W_out")
        set_weight_matrix(W_out, np.asarray(weights["W_out"], dtype=float))
        objects.append(W_out)
        probes["o"] = (O, "o")

        # label kernel k(y_b, y_a) (eq. 35): one unit comparing the label populations with their memory
        ky_expr = f"({float(C)!r}*dot - 1)/{float(C - 1)!r}" if p.center_labels else "dot"
        K = group(1, f"dot : 1\nky = {ky_expr} : 1", "K", 1000)
        relay(Y, K, ["dot_post = out_pre*out_a_pre"], "Y_to_K")
        probes["ky"] = (K, "ky")

        for k in range(1, L + 1):
            base = 1000 + 10 * k
            if divnorm:
                c = float(p.n_groups)
                B1 = group(
                    1,
                    f"""
                    D1 : 1   # sum over groups of Delta w_alpha
                    D2 : 1   # sum over groups of (Delta w_alpha)^2
                    b1 = D2 - D1*D1/{c!r} : 1       # sum of (Delta v_alpha)^2 (eq. 65)
                    kz = exp(-b1/{2 * sig2!r}) : 1     # Gaussian kernel on v (eq. 19)
                    dmean = D1/{c!r} : 1
                    """,
                    f"L{k}_b1",
                    base + 2,
                )
                d = "(w_pre - w_a_pre)"
                relay(norms[k], B1, [f"D1_post = {d}", f"D2_post = {d}*{d}"], f"L{k}_norm_to_b1")
                relay(B1, norms[k], ["dmean_post = dmean_pre"], f"L{k}_b1_to_norm")
            else:
                B1 = group(
                    1,
                    f"b1 : 1   # sum of (z - z_a)^2 (eq. 59)\nkz = exp(-b1/{2 * sig2!r}) : 1   # eq. 26",
                    f"L{k}_b1",
                    base + 2,
                )
                d = "(out_pre - out_a_pre)"
                relay(layers[k], B1, [f"b1_post = {d}*{d}"], f"L{k}_to_b1")
            B2 = group(1, f"ky_in : 1\nkz_in : 1\nb2 = {float(p.gamma)!r}*ky_in - 2*kz_in : 1   # eq. 60", f"L{k}_b2", base + 4)
            relay(K, B2, ["ky_in_post = ky_pre"], f"K_to_L{k}_b2")
            relay(B1, B2, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b2")
            B3 = group(
                1,
                f"""
                b2_in : 1
                kz_in : 1
                b3 : 1                                     # running mean of b2 (eq. 61)
                M = -(b2_in - b3)*kz_in/{sig2!r} : 1       # the layer's third factor (eq. 62)
                """,
                f"L{k}_b3",
                base + 6,
                True,
            )
            B3.b3 = p.b3_start(k)
            B3.run_regularly(
                f"b3 = gate_centre*({float(p.beta_avg)!r}*b2_in + {1.0 - p.beta_avg!r}*b3) + (1 - gate_centre)*b3",
                when="end",
                order=0,
                name=f"L{k}_b3_centre",
            )
            relay(B1, B3, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b3")
            relay(B2, B3, ["b2_in_post = b2_pre"], f"L{k}_b2_to_b3")
            if divnorm:
                relay(B3, norms[k], ["Mc_post = M_pre"], f"L{k}_b3_to_norm")
            else:
                relay(B3, layers[k], ["mod_post = M_pre"], f"L{k}_b3_to_L")
            b1s[k], b3s[k] = B1, B3
            probes[f"b1_{k}"] = (B1, "b1")
            probes[f"b2_{k}"] = (B2, "b2")
            probes[f"b3_{k}"] = (B3, "b3")
            probes[f"M{k}"] = (B3, "M")

        state_probes = {name: probes[name] for name in self.state_names()}
        return BrianModel(
            objects=objects,
            schedule=sch,
            n_trials=n_trials,
            dt=dt,
            state_probes=state_probes,
            weight_probes={f"W{k}": (syns[k], (N[k - 1], N[k]), "w") for k in range(1, L + 1)},
            inputs={k: ta for k, ta in tas.items()},
            namespace={f"{k}_in": ta for k, ta in tas.items()},
        )

    # ---- torch twin ----------------------------------------------------------------------------------------------
    def simulate_reference(self, weights, data, dtype=torch.float64) -> Trace:
        """The same streaming circuit in torch, one trial after another, step by step in the sweep order.

        Per step: (1) the sweep — every population recomputes its summed inputs from what the populations
        before it produced in this step and what those after it held at the end of the previous step;
        (2) the gates (memory, running average, Hebbian accumulation, weight update); (3) the record.
        """
        self.params.check_streaming()
        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        N, L, C = p.sizes, self.n_layers, p.sizes[-1]
        divnorm = p.mode == "divnorm"
        slope, sig2, pw = float(p.leaky_slope), float(p.sigma) ** 2, float(p.power)
        T, B = sch.trial_steps, sch.trials_per_update

        def t(a):
            return torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype)

        W = {k: t(weights[f"W{k}"]) for k in range(1, L + 1)}
        W_out, b_out = t(weights["W_out"]), t(weights["b_out"])
        xa, xb, ya, yb = (t(data[k]) for k in ("x_a", "x_b", "y_a", "y_b"))
        z0 = lambda n: torch.zeros(n, dtype=dtype)  # noqa: E731

        # state: the parameters (summed inputs, memories, b3) of every population
        x_a_mem, y_a_mem = z0(N[0]), z0(C)
        I = {k: z0(N[k]) for k in range(1, L + 1)}
        mod = {k: z0(N[k]) for k in range(1, L + 1)}
        out_a = {k: z0(N[k]) for k in range(1, L + 1)}
        g_a = {k: z0(N[k]) for k in range(1, L + 1)}
        zbar_L = {k: z0(N[k]) for k in range(1, L + 1)}
        u_L = {k: z0(N[k]) for k in range(1, L + 1)}
        S1 = {k: z0(p.n_groups) for k in range(1, L + 1)}
        S2 = {k: z0(p.n_groups) for k in range(1, L + 1)}
        w_a = {k: z0(p.n_groups) for k in range(1, L + 1)}
        Mc = {k: z0(p.n_groups) for k in range(1, L + 1)}
        dmean_N = {k: z0(p.n_groups) for k in range(1, L + 1)}
        b1p = {k: z0(1) for k in range(1, L + 1)}  # plain: b1;  divnorm: (D1, D2)
        D1 = {k: z0(1) for k in range(1, L + 1)}
        D2 = {k: z0(1) for k in range(1, L + 1)}
        ky_in = {k: z0(1) for k in range(1, L + 1)}
        kz_in2 = {k: z0(1) for k in range(1, L + 1)}
        b2_in = {k: z0(1) for k in range(1, L + 1)}
        kz_in3 = {k: z0(1) for k in range(1, L + 1)}
        b3 = {k: torch.full((1,), p.b3_start(k), dtype=dtype) for k in range(1, L + 1)}
        dot = z0(1)
        I_o = z0(C)
        acc = {k: torch.zeros_like(W[k]) for k in W}

        # the populations' rates, as functions of their parameters
        def z_of(k):
            return _lrelu_torch(I[k], slope)

        def g_of(k):
            return _lrelu_prime_torch(I[k], slope)

        def out_of(k):
            return (z_of(k) - zbar_L[k]) / u_L[k] ** pw if divnorm else z_of(k)

        def n_zbar(k):
            return S1[k] / float(p.group_size(k))

        def n_u(k):
            na = float(p.group_size(k))
            return (S2[k] - S1[k] * n_zbar(k) + float(p.delta)) / na

        def n_w(k):
            return n_u(k) ** (1.0 - pw)

        def n_malpha(k):
            return Mc[k] * (n_w(k) - w_a[k] - dmean_N[k])

        def b1_of(k):
            return D2[k] - D1[k] * D1[k] / float(p.n_groups) if divnorm else b1p[k]

        def kz_of(k):
            return torch.exp(-b1_of(k) / (2 * sig2))

        def b1_dmean(k):
            return D1[k] / float(p.n_groups)

        def b2_of(k):
            return float(p.gamma) * ky_in[k] - 2 * kz_in2[k]

        def M_of(k):
            return -(b2_in[k] - b3[k]) * kz_in3[k] / sig2

        def ky_of():
            return (float(C) * dot - 1) / float(C - 1) if p.center_labels else dot

        def expand(v, k):  # group value -> its neurons
            return v.repeat_interleave(p.group_size(k))

        rec = {name: torch.zeros(n_trials, T, self._state_size(name), dtype=dtype) for name in self.state_names()}
        history = {k: [] for k in W}
        for trial in range(n_trials):
            for step in sch.steps():
                a_phase = step.phase.name == "sample_a"
                x = (xa[trial] if a_phase else xb[trial]) * float(step.clamped("x"))
                y = (ya[trial] if a_phase else yb[trial]) * float(step.clamped("y"))
                # (1) the sweep
                h = x
                for k in range(1, L + 1):
                    I[k] = h @ W[k]  # L_k's inputs: from below (this step) ...
                    if divnorm:  # ... and from its interneurons (previous step)
                        zbar_L[k], u_L[k], mod[k] = expand(n_zbar(k), k), expand(n_u(k), k), expand(n_malpha(k), k)
                        zk = z_of(k)
                        S1[k] = zk.reshape(p.n_groups, -1).sum(1)
                        S2[k] = (zk * zk).reshape(p.n_groups, -1).sum(1)
                        Mc[k] = M_of(k).expand(p.n_groups).clone()
                        dmean_N[k] = b1_dmean(k).expand(p.n_groups).clone()
                    else:
                        mod[k] = M_of(k).expand(N[k]).clone()
                    h = out_of(k)
                I_o = h @ W_out
                dot = (y * y_a_mem).sum().reshape(1)
                for k in range(1, L + 1):
                    if divnorm:
                        dw = n_w(k) - w_a[k]
                        D1[k], D2[k] = dw.sum().reshape(1), (dw * dw).sum().reshape(1)
                    else:
                        d = out_of(k) - out_a[k]
                        b1p[k] = (d * d).sum().reshape(1)
                    ky_in[k], kz_in2[k] = ky_of(), kz_of(k)
                    b2_in[k], kz_in3[k] = b2_of(k), kz_of(k)
                # (2) the gates
                if "store" in step.gates:
                    x_a_mem, y_a_mem = x.clone(), y.clone()
                    for k in range(1, L + 1):
                        out_a[k], g_a[k] = out_of(k), g_of(k)
                        if divnorm:
                            w_a[k] = n_w(k)
                if "centre" in step.gates:
                    for k in range(1, L + 1):
                        b3[k] = float(p.beta_avg) * b2_in[k] + (1.0 - float(p.beta_avg)) * b3[k]
                if "learn" in step.gates:
                    pre, pre_a = x, x_a_mem
                    for k in range(1, L + 1):
                        post, post_a = out_of(k), out_a[k]
                        if divnorm:
                            hebb = torch.outer(pre, mod[k] * post * g_of(k)) - torch.outer(pre_a, mod[k] * post_a * g_a[k])
                        else:
                            hebb = (mod[k] * (post - post_a))[None, :] * (
                                pre[:, None] * g_of(k)[None, :] - pre_a[:, None] * g_a[k][None, :]
                            )
                        acc[k] = acc[k] + hebb
                        pre, pre_a = post, post_a
                if step.k == T - 1 and sch.applies_update(trial):
                    for k in range(1, L + 1):
                        W[k] = W[k] + p.lr_effective(k) * acc[k]
                        acc[k] = torch.zeros_like(acc[k])
                        history[k].append(W[k].clone())
                # (3) the record
                values = {"ky": ky_of(), "o": I_o + b_out}
                for k in range(1, L + 1):
                    values.update(
                        {f"z{k}": z_of(k), f"mod{k}": mod[k], f"b1_{k}": b1_of(k), f"b2_{k}": b2_of(k), f"b3_{k}": b3[k], f"M{k}": M_of(k)}
                    )
                    if divnorm:
                        values.update({f"r{k}": out_of(k), f"u{k}": n_u(k)})
                for name in rec:
                    rec[name][trial, step.k] = values[name]
        return Trace(
            states={k: v.numpy() for k, v in rec.items()},
            weights={f"W{k}": (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
        )

    def _state_size(self, name: str) -> int:
        N = self.params.sizes
        if name == "ky" or name[:2] in ("b1", "b2", "b3") or name.startswith("M"):
            return 1
        if name == "o":
            return N[-1]
        if name.startswith("u"):
            return self.params.n_groups
        return N[int(name.lstrip("zrmod"))]

    # ---- readout -------------------------------------------------------------------------------------------------
    def forward(self, weights, x, dtype=torch.float64) -> dict[str, np.ndarray]:
        """Settled rates for samples x: ``out{k}`` (forwarded activity of every hidden layer) and ``o``."""
        p = self.params
        self.check_weights(weights)
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != p.sizes[0]:
            raise ShapeError(f"{self.name}: inputs have shape {x.shape}, expected (n, {p.sizes[0]})")
        h = torch.as_tensor(x, dtype=dtype)
        res = {}
        for k in range(1, self.n_layers + 1):
            z = _lrelu_torch(h @ torch.as_tensor(np.asarray(weights[f"W{k}"]), dtype=dtype), float(p.leaky_slope))
            if p.mode == "divnorm":
                m, n = z.shape
                zg = z.reshape(m, p.n_groups, -1)
                S1 = zg.sum(2, keepdim=True)
                zbar = S1 / float(p.group_size(k))
                u = ((zg * zg).sum(2, keepdim=True) - S1 * zbar + float(p.delta)) / float(p.group_size(k))
                z = ((zg - zbar) / u ** float(p.power)).reshape(m, n)
            h = z
            res[f"out{k}"] = h.numpy()
        o = h @ torch.as_tensor(np.asarray(weights["W_out"]), dtype=dtype) + torch.as_tensor(np.asarray(weights["b_out"]), dtype=dtype)
        res["o"] = o.numpy()
        return res

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the readout o = W_outᵀ h^L + b_out."""
        return np.argmax(self.forward(weights, x)["o"], axis=1)

    # ---- spiking twin of the inference ------------------------------------------------------------------------
    @classmethod
    def from_batch_params(cls, params) -> PHSIC:
        """The circuit for a batch-form network: ``params`` is a :class:`PHSICParams` (``trainer.params``) or
        the ``params`` mapping of a trainer checkpoint (``state_dict()["params"]``), validated key by key.

        Inference (``forward``, ``predict_rate``, ``build_spiking_brian``) uses sizes, mode, groups, δ, p and
        the LReLU slope; every kernel and mode of the batch form is accepted.
        """
        if isinstance(params, PHSICParams):
            params = dataclasses.asdict(params)
        if not isinstance(params, Mapping):
            raise ConfigError(f"{cls.name}: expected PHSICParams or a mapping of its fields, got {type(params).__name__}")
        return cls(make_params(PHSICCircuitParams, dict(params), where=f"{cls.name} batch-form parameters"))

    def build_spiking_brian(self, weights, x, *, encoding="regular", t_sample=0.2, r_max=None, tau_syn=None,
                            rate_scales=None, scale_quantile=0.999, input_range=(-1.0, 1.0), readout_fraction=0.5):
        """Spiking twin of the feedforward inference on ``x`` (ON/OFF pairs, graded divisive-normalisation pools,
        trace-argmax readout): :func:`circuits.phsic.spiking.build_spiking_twin`, whose docstring states the
        design."""
        from .spiking import build_spiking_twin

        return build_spiking_twin(
            self, weights, x, encoding=encoding, t_sample=t_sample, r_max=r_max, tau_syn=tau_syn,
            rate_scales=rate_scales, scale_quantile=scale_quantile, input_range=input_range,
            readout_fraction=readout_fraction,
        )
