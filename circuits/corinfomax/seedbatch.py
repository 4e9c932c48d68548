"""Seed-batched CorInfoMax training: S seeds of one config in one process, their matrices stacked.

Why: the paper's protocol is 10 seeds per table cell. Trained one by one, every seed pays the Python and
op-dispatch overhead of ~40 small sweeps per batch of 20 on its own; stacked, one batched GEMM
(``torch.baddbmm``) and one element-wise op per step serve all S seeds, so that overhead is shared and the
GEMMs get S times more work per call.

Semantics are exactly those of :class:`.trainer.CorInfoMaxTrainer` (its module docstring), per seed: each
seed has its own initial weights (:func:`.trainer.initial_weights`), its own sample order and β signs
(:func:`.trainer.batch_plan`) and its own evaluation inputs; the seeds never interact (every op is per
seed slice). In float64 a seed's weights after training equal its single-seed run to rounding (the GEMMs
sum in another order; tested to 1e-12 in ``tests/test_corinfomax_seedbatch.py``). Supported: both variants
(dense B∞,+ and sparse B1,+), any depth, ``lateral_update = "B"`` (the "DO" form, mathematically the same,
runs one seed at a time: :func:`supports`).

How a sweep uses it (``neuromorph sweep CFG --seeds 0-9``, see ``neuromorph/sweep.py``): every seed still
runs ``neuromorph.runner.run`` into its own results folder (manifest, metrics.jsonl, checkpoint, resume),
each in its own Python thread of one process; the runner asks the circuit for a trainer, and
:func:`claim` hands it the seed's :class:`SeedMember` of the group bound to that thread. A member's
``train_epoch`` and ``predict`` are *collective*: they block until every still-running member of the group
made the same call, then one thread runs the batched version for all (:class:`Lockstep`). Everything else
(weights, checkpoint state, metrics) reads or writes the member's own slice.
"""

from __future__ import annotations

import threading
from dataclasses import asdict

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, NeuromorphError, ShapeError

from .params import CorInfoMaxParams, revive_column, weight_layout
from .trainer import angle_degrees, batch_plan, initial_weights

__all__ = ["SeedBatch", "SeedMember", "Lockstep", "supports", "bind", "claim"]


def supports(params: CorInfoMaxParams) -> bool:
    """Whether :class:`SeedBatch` implements these parameters (everything but the "DO" lateral form)."""
    return isinstance(params, CorInfoMaxParams) and params.lateral_update == "B"


class SeedBatch:
    """The weights of S seeds stacked along a leading axis, trained and evaluated together.

    ``threads``: torch intra-op threads while training/evaluating (None: torch's current count).
    """

    def __init__(self, params: CorInfoMaxParams, seeds, dtype=torch.float32, threads: int | None = None,
                 eval_batch: int = 1000):
        if not supports(params):
            raise ConfigError("seed batching needs CorInfoMax parameters with lateral_update = 'B' "
                              "(the 'DO' form trains one seed at a time)")
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.seeds = [int(s) for s in seeds]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"a seed batch needs distinct seeds, got {self.seeds}")
        self.params = params
        self.dtype = dtype
        self.threads = int(threads) if threads else None
        self.eval_batch = int(eval_batch)
        self.P = params.n_layers
        self.sizes = tuple(params.sizes)
        self.sparse = params.variant == "sparse"
        self.S = len(self.seeds)
        ws = [initial_weights(params, s) for s in self.seeds]
        P = self.P
        st = lambda name: torch.tensor(np.stack([w[name] for w in ws]), dtype=dtype)  # noqa: E731
        self.Wff = [st(f"W_ff{k}") for k in range(P)]
        self.Wfb = [None] + [st(f"W_fb{k}") for k in range(1, P)]
        self.B = [None] + [st(f"B{k}") for k in range(1, P + 1)]
        self.epochs_done = [0] * self.S
        self.silent = np.zeros((self.S, self.sizes[-1]), dtype=np.int64)  # revive_silent_output counters
        self.revived = [0] * self.S
        self.members = [SeedMember(self, i) for i in range(self.S)]

    # ---- one seed's slice ---------------------------------------------------------------------------------
    def weights_of(self, i: int) -> dict[str, np.ndarray]:
        P = self.P
        out = {f"W_ff{k}": self.Wff[k][i].numpy().copy() for k in range(P)}
        out.update({f"W_fb{k}": self.Wfb[k][i].numpy().copy() for k in range(1, P)})
        out.update({f"B{k}": self.B[k][i].numpy().copy() for k in range(1, P + 1)})
        return out

    def load_weights_of(self, i: int, w: dict) -> None:
        expected = weight_layout(self.params)
        missing = sorted(set(expected) - set(w))
        if missing:
            raise ShapeError(f"CorInfoMax weights missing {missing}; expected {list(expected)}")
        for name, shape in expected.items():
            if tuple(np.shape(w[name])) != shape:
                raise ShapeError(f"weight {name!r} has shape {tuple(np.shape(w[name]))}, expected {shape}")
        P = self.P
        for k in range(P):
            self.Wff[k][i].copy_(torch.as_tensor(np.asarray(w[f"W_ff{k}"]), dtype=self.dtype))
        for k in range(1, P):
            self.Wfb[k][i].copy_(torch.as_tensor(np.asarray(w[f"W_fb{k}"]), dtype=self.dtype))
        for k in range(1, P + 1):
            self.B[k][i].copy_(torch.as_tensor(np.asarray(w[f"B{k}"]), dtype=self.dtype))

    # ---- derived matrices ---------------------------------------------------------------------------------
    def _lat(self, k: int, idx) -> torch.Tensor:
        """c gamma B_k + g I of the seeds ``idx`` ((S', n_k, n_k)); c = 2 hidden, 1 output."""
        p = self.params
        c = 2.0 if k < self.P else 1.0
        m = self.B[k][idx] * (c * p.gamma)
        m.diagonal(dim1=1, dim2=2).add_(p.g_lk)
        return m

    def _derived(self, idx, betas: torch.Tensor | None) -> dict:
        """Fused [c gamma B_k + g I | W_ff{k}/eps] per hidden layer, W_fb{k}/eps, the output's lateral matrix
        without and (``betas`` per seed) with the nudge -beta I."""
        P, eps = self.P, self.params.epsilon
        C = [None] + [torch.cat([self._lat(k, idx), self.Wff[k][idx] * (1.0 / eps)], dim=2) for k in range(1, P)]
        Wfbs = [None] + [self.Wfb[k][idx] * (1.0 / eps) for k in range(1, P)]
        latp = self._lat(P, idx)
        mats = {"C": C, "Wfbs": Wfbs, "latp": latp}
        if betas is not None:
            nud = latp.clone()
            nud.diagonal(dim1=1, dim2=2).sub_(betas.view(-1, 1))
            mats["latp_nud"] = nud
        return mats

    # ---- dynamics -----------------------------------------------------------------------------------------
    def _state(self, S: int, m: int) -> dict:
        n, P, dt = self.sizes, self.P, self.dtype
        z = lambda *s: torch.zeros(*s, dtype=dt)  # noqa: E731
        return {
            "u": [None] + [z(S, m, n[k]) for k in range(1, P + 1)],
            "r": [None] + [z(S, m, n[k]) for k in range(1, P + 1)],
            "E": [None] + [z(S, m, n[k] + n[k + 1]) for k in range(1, P)],
            "G": [None] + [z(S, m, n[k] + n[k + 1]) for k in range(1, P)],
            "a": [None] + [z(S, m, 1) for _ in range(1, P + 1)] if self.sparse else None,
            "q": [None] + [z(S, m, 1) for _ in range(1, P + 1)] if self.sparse else None,
        }

    def _phase(self, st: dict, x: torch.Tensor, idx, mats: dict, T: int, nudged: bool,
               beta_y: torch.Tensor | None = None) -> None:
        """The Gauss-Seidel sweeps of one phase for all seeds at once (the order of ``kernels.sweeps_py``)."""
        p, P, n = self.params, self.P, self.sizes
        eps, g = p.epsilon, p.g_lk
        u, r, G, E, a, q = st["u"], st["r"], st["G"], st["E"], st["a"], st["q"]
        c_h, c_o = g + 2.0 / eps, g + 1.0 / eps + 1.0
        if nudged:
            if beta_y is not None:
                E[P - 1][:, :, n[P - 1]:].copy_(beta_y)
            for k in range(1, P + 1):
                u[k].copy_(r[k])  # u := r_free (the clipped rates)
                if self.sparse:
                    a[k].copy_(q[k])  # a := q_free
        else:
            for k in range(1, P + 1):
                u[k].zero_()
                r[k].zero_()
                if self.sparse:
                    a[k].zero_()
                    q[k].zero_()
            for k in range(1, P):
                E[k].zero_()
            E[1][:, :, : n[1]].copy_(torch.bmm(x, self.Wff[0][idx])).mul_(1.0 / eps)  # x W_ff0 / eps, hoisted
            for k in range(1, P):
                G[k].copy_(E[k])
        latp = mats["latp_nud"] if nudged else mats["latp"]
        for s in range(T):
            mu = p.mu_at(s)
            for k in range(1, P + 1):
                uk = u[k]
                if k < P:
                    uk.baddbmm_(r[k + 1], mats["Wfbs"][k], beta=1.0 - mu * c_h, alpha=mu)
                    uk.add_(G[k][:, :, : n[k]], alpha=mu)
                else:
                    uk.baddbmm_(r[P], latp, beta=1.0 - mu * c_o, alpha=mu)
                if k > 1:
                    uk.add_(G[k - 1][:, :, n[k - 1]:], alpha=mu)
                if self.sparse:
                    uk.sub_(q[k], alpha=mu)
                    torch.clamp(uk, min=0.0, out=r[k])
                    mu_a = float(p.mu_a[0] if k < P else p.mu_a[1])
                    tmp = r[k].sum(dim=2, keepdim=True).add_(q[k]).sub_(1.0)
                    a[k].mul_(1.0 - mu_a).add_(tmp, alpha=mu_a)
                    torch.clamp(a[k], min=0.0, out=q[k])
                else:
                    torch.clamp(uk, 0.0, 1.0, out=r[k])
                if k < P:
                    torch.baddbmm(E[k], r[k], mats["C"][k], out=G[k])

    def _with_threads(self, fn):
        prev = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return fn()
        finally:
            torch.set_num_threads(prev)

    # ---- training -----------------------------------------------------------------------------------------
    def train_epoch(self, x, y, epoch: int) -> list[dict]:
        """One epoch of every seed (each its own order and β signs); one dict per seed.

        ``x``, ``y``: one data set for all seeds, or a list with one per seed (a seed-dependent split, e.g.
        digits): all of one length; equal arrays are stored once.
        """
        p, P, n = self.params, self.P, self.sizes
        xs = list(x) if isinstance(x, (list, tuple)) else [x] * self.S
        ys = list(y) if isinstance(y, (list, tuple)) else [y] * self.S
        if len(xs) != self.S or len(ys) != self.S:
            raise ShapeError(f"train_epoch: one data set, or one per seed ({self.S}), got {len(xs)} and {len(ys)}")
        uniq: list[tuple] = []  # distinct (x, y) pairs, each stored once; where[i]: seed i's pair
        where = []
        for xi, yi in zip(xs, ys):
            xi, yi = np.asarray(xi), np.asarray(yi)
            if xi.ndim != 2 or xi.shape[1] != n[0]:
                raise ShapeError(f"train_epoch: x must have shape (n_samples, {n[0]}), got {xi.shape}")
            if yi.ndim != 1 or len(yi) != len(xi):
                raise ShapeError(f"train_epoch: y must be integer labels of shape ({len(xi)},), got {yi.shape}")
            if len(yi) and (yi.min() < 0 or yi.max() >= n[P]):
                raise ShapeError(f"train_epoch: labels must lie in [0, {n[P]}) (output layer size), got {yi.min()}..{yi.max()}")
            j = next((j for j, (ux, uy) in enumerate(uniq) if (ux is xi or np.array_equal(ux, xi))
                      and (uy is yi or np.array_equal(uy, yi))), None)
            if j is None:
                uniq.append((xi, yi))
                j = len(uniq) - 1
            where.append(j)
        n_samples = len(uniq[0][0])
        if any(len(ux) != n_samples for ux, _ in uniq):
            raise ShapeError(f"train_epoch: every seed's data must have the same length, got {[len(ux) for ux, _ in uniq]}")
        x = np.concatenate([ux for ux, _ in uniq]) if len(uniq) > 1 else uniq[0][0]
        y = np.concatenate([uy for _, uy in uniq]) if len(uniq) > 1 else uniq[0][1]
        offset = torch.as_tensor([w * n_samples for w in where], dtype=torch.int64).view(-1, 1)
        plans = [batch_plan(n_samples, p.batch, s, epoch) for s in self.seeds]
        orders = torch.as_tensor(np.stack([o for o, _ in plans]), dtype=torch.int64) + offset
        signs = np.stack([sg for _, sg in plans]).astype(np.float64)
        if not p.random_sign_beta:
            signs = np.ones_like(signs)
        f = p.lr_factor(epoch)

        def run():
            X = torch.as_tensor(x, dtype=self.dtype)
            Y = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.int64), n[P]).to(self.dtype)
            idx = slice(None)
            nb = p.batch
            states = {}
            for b in range(signs.shape[1]):
                rows = orders[:, b * nb:(b + 1) * nb]
                m = rows.shape[1]
                if m not in states:
                    states[m] = self._state(self.S, m)
                st = states[m]
                xb = X[rows]  # (S, m, N0)
                betas_np = p.beta * signs[:, b]
                betas = torch.as_tensor(betas_np, dtype=self.dtype)
                mats = self._derived(idx, betas)
                self._phase(st, xb, idx, mats, p.t_free, nudged=False)
                rf = [None] + [st["r"][k].clone() for k in range(1, P + 1)]
                self._phase(st, xb, idx, mats, p.t_nudged, nudged=True, beta_y=Y[rows] * betas.view(-1, 1, 1))
                self._update(xb, st["r"], rf, m, betas_np, f)
                if p.revive_silent_output:
                    self._revive(rf[P], epoch, b)
            return None

        self._with_threads(run)
        for i in range(self.S):
            self.epochs_done[i] = epoch + 1
        frac = (signs > 0).mean(axis=1)
        return [{"lr_factor": f, "n_batches": int(signs.shape[1]), "frac_beta_positive": float(frac[i])}
                for i in range(self.S)]

    def _update(self, x, rn, rf, m: int, betas_np: np.ndarray, f: float) -> None:
        """Updates of one batch for every seed, each from its pre-update weights (trainer module docstring)."""
        p, P = self.params, self.P
        inv = torch.as_tensor(f / (betas_np * m), dtype=self.dtype).view(-1, 1, 1)  # per seed: f / (beta n)
        Z = [None] + [torch.bmm(rn[k], self.B[k]) for k in range(1, P + 1)]  # pre-update B
        # W_ff0: the clamped input is the same in both phases, so e_nud - e_free = r1_nud - r1_free
        self.Wff[0].add_(torch.bmm(x.transpose(1, 2), rn[1] - rf[1]) * inv, alpha=p.lr_ff[0])
        self._decay(self.Wff[0], p.lr_ff[0] * f)
        for k in range(1, P):
            wff = self.Wff[k]
            en = rn[k + 1] - torch.bmm(rn[k], wff)
            ef = rf[k + 1] - torch.bmm(rf[k], wff)
            wff.add_(torch.bmm(torch.cat([rn[k], rf[k]], dim=1).transpose(1, 2), torch.cat([en, ef.neg_()], dim=1)) * inv,
                     alpha=p.lr_ff[k])
            self._decay(wff, p.lr_ff[k] * f)
            wfb = self.Wfb[k]
            bn = rn[k] - torch.bmm(rn[k + 1], wfb)
            bf = rf[k] - torch.bmm(rf[k + 1], wfb)
            wfb.add_(torch.bmm(torch.cat([rn[k + 1], rf[k + 1]], dim=1).transpose(1, 2), torch.cat([bn, bf.neg_()], dim=1)) * inv,
                     alpha=p.lr_fb[k - 1])
            self._decay(wfb, p.lr_fb[k - 1] * f)
        for k in range(1, P + 1):
            self.B[k].baddbmm_(Z[k].transpose(1, 2), Z[k], beta=1.0 / p.lam, alpha=-p.gamma / (p.lam * m))

    def _revive(self, out_free: torch.Tensor, epoch: int, b: int) -> None:
        """``revive_silent_output`` per seed, as :meth:`.trainer.CorInfoMaxTrainer._revive` (same draws)."""
        silent = (out_free <= 0).all(dim=1).numpy()  # (S, N_P)
        self.silent = np.where(silent, self.silent + 1, 0)
        for i, j in zip(*np.nonzero(self.silent >= self.params.revive_silent_output)):
            col = revive_column(self.params, self.seeds[i], epoch, b, int(j))
            self.Wff[self.P - 1][i, :, j] = torch.as_tensor(col, dtype=self.dtype)
            self.silent[i, j] = 0
            self.revived[i] += 1

    def _decay(self, w: torch.Tensor, rate: float) -> None:
        if self.params.weight_decay:
            w.sub_(w * (rate * self.params.epsilon))

    # ---- evaluation ---------------------------------------------------------------------------------------
    def free_rates(self, xs: list) -> list[list[np.ndarray]]:
        """Free-phase rates r[1..P] per seed for its own inputs ``xs[i]`` (all of one length)."""
        P, n = self.P, self.sizes
        xs = [np.asarray(x) for x in xs]
        if len(xs) != self.S:
            raise ShapeError(f"free_rates: one input array per seed ({self.S}), got {len(xs)}")
        if len({len(x) for x in xs}) != 1 or any(x.ndim != 2 or x.shape[1] != n[0] for x in xs):
            raise ShapeError(f"free_rates: every seed's x must have the same shape (n_samples, {n[0]}), "
                             f"got {[x.shape for x in xs]}")
        total = len(xs[0])
        outs = [[[] for _ in range(P)] for _ in range(self.S)]

        def run():
            X = torch.as_tensor(np.stack(xs), dtype=self.dtype)
            mats = self._derived(slice(None), None)
            eb = max(1, self.eval_batch)
            for lo in range(0, total, eb):
                xb = X[:, lo:lo + eb]
                st = self._state(self.S, xb.shape[1])
                self._phase(st, xb, slice(None), mats, self.params.t_free, nudged=False)
                for i in range(self.S):
                    for k in range(P):
                        outs[i][k].append(st["r"][k + 1][i].numpy().copy())

        self._with_threads(run)
        return [[np.concatenate(o[k]) if o[k] else np.zeros((0, n[k + 1])) for k in range(P)] for o in outs]

    def predict(self, xs: list) -> list[np.ndarray]:
        return [rs[-1].argmax(axis=1) for rs in self.free_rates(xs)]


class SeedMember(Trainer):
    """One seed of a :class:`SeedBatch`, seen through the ``Trainer`` interface of the runner.

    ``train_epoch`` and ``predict`` train / evaluate the seed's slice: through the group's :class:`Lockstep`
    (collective with the other seeds) when one is attached, else on the seed alone in the batched code
    (what a test of a single member does). ``options()`` records the batching in the run's manifest.
    """

    def __init__(self, batch: SeedBatch, i: int):
        self.batch = batch
        self.i = i
        self.seed = batch.seeds[i]
        self.params = batch.params
        self.lockstep: Lockstep | None = None

    @property
    def epochs_done(self) -> int:
        return self.batch.epochs_done[self.i]

    def train_epoch(self, x, y, epoch, progress=None) -> dict:
        if self.lockstep is None:
            raise NeuromorphError("a seed-batch member trains through its group's Lockstep; call SeedBatch.train_epoch")
        out = self.lockstep.call(self.i, "train_epoch", (x, y, int(epoch)))
        if progress is not None:
            progress(len(x))
        return out

    def predict(self, x) -> np.ndarray:
        if self.lockstep is None:
            raise NeuromorphError("a seed-batch member predicts through its group's Lockstep; call SeedBatch.predict")
        return self.lockstep.call(self.i, "predict", (x,))

    def free_rates(self, x):
        return self.lockstep.call(self.i, "free_rates", (x,))

    def weights(self) -> dict[str, np.ndarray]:
        return self.batch.weights_of(self.i)

    def state_dict(self) -> dict:
        st = {"weights": self.weights(), "seed": self.seed, "epochs_done": self.epochs_done,
              "params": asdict(self.params)}
        if self.params.revive_silent_output:  # the same layout as the single-seed trainer's
            st["revive"] = {"silent_batches": self.batch.silent[self.i].copy(),
                            "revived": np.int64(self.batch.revived[self.i])}
        return st

    def load_state_dict(self, state: dict) -> None:
        if state.get("DO") is not None:
            raise ConfigError("this checkpoint holds the 'DO' lateral form; seed batching supports lateral_update = 'B'")
        self.batch.load_weights_of(self.i, state["weights"])
        self.batch.epochs_done[self.i] = int(state.get("epochs_done", 0))
        if state.get("revive") is not None:
            self.batch.silent[self.i] = np.asarray(state["revive"]["silent_batches"], dtype=np.int64)
            self.batch.revived[self.i] = int(state["revive"]["revived"])

    def options(self) -> dict:
        b = self.batch
        return {"threads": b.threads or torch.get_num_threads(), "kernel": "seed-batched", "gemm": "bmm",
                "lanes": 1, "dtype": str(b.dtype).replace("torch.", ""), "eval_batch": b.eval_batch,
                "seed_batch": len(b.seeds), "seed_batch_seeds": list(b.seeds)}

    def epoch_metrics(self) -> dict:
        w = self.weights()
        out = {f"angle_{k}": angle_degrees(w[f"W_ff{k}"], w[f"W_fb{k}"].T) for k in range(1, self.batch.P)}
        if self.params.revive_silent_output:
            out["revived_output_units"] = self.batch.revived[self.i]  # cumulative over the run
        return out

    def close(self) -> None:
        pass


class Lockstep:
    """Collective calls of the members of one :class:`SeedBatch`, each member running in its own thread.

    ``call(i, name, args)`` blocks until every active member has called ``name`` (the same epoch, for
    ``train_epoch``); the last to arrive runs the batched operation for all and hands each member its
    part. ``leave(i)`` removes a member whose run ended (complete, failed or diverged) so the others go on.
    An error of the batched operation is raised in every member's thread.
    """

    def __init__(self, batch: SeedBatch):
        self.batch = batch
        self.active = set(range(batch.S))
        self.pending: dict[int, tuple] = {}
        self.results: dict[int, tuple] = {}
        self.cond = threading.Condition()
        for m in batch.members:
            m.lockstep = self

    def call(self, i: int, name: str, args: tuple):
        with self.cond:
            if i not in self.active:
                raise NeuromorphError(f"seed {self.batch.seeds[i]} left its seed batch and cannot call {name}")
            self.pending[i] = (name, args)
            self._maybe_run()
            while i not in self.results:
                self.cond.wait()
            ok, value = self.results.pop(i)
        if not ok:
            raise value
        return value

    def leave(self, i: int) -> None:
        with self.cond:
            self.active.discard(i)
            self.pending.pop(i, None)
            self._maybe_run()

    def _maybe_run(self) -> None:
        """Under the lock: run the collective once every active member is pending."""
        if not self.pending or not self.active <= set(self.pending):
            return
        calls = dict(self.pending)
        self.pending.clear()
        try:
            out = self._run(calls)
            for i in calls:
                self.results[i] = (True, out[i])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting member
            for i in calls:
                self.results[i] = (False, exc)
        self.cond.notify_all()

    def _run(self, calls: dict) -> dict:
        b = self.batch
        names = {name for name, _ in calls.values()}
        if len(names) != 1:
            raise NeuromorphError(f"the seeds of a seed batch went out of step ({sorted(names)}); run them one at a time")
        name = names.pop()
        if name == "train_epoch":
            epochs = {args[2] for _, args in calls.values()}
            if len(epochs) != 1 or len({b.epochs_done[i] for i in calls}) != 1:
                raise NeuromorphError("the seeds of a seed batch are at different epochs (resumed from different "
                                      "checkpoints?); run them one at a time")
            x0, y0, epoch = next(iter(calls.values()))[1]
            # each seed its own data (the runner loads it per seed); a seed that left trains on a stand-in,
            # unseen (its run has ended)
            xs = [calls[i][1][0] if i in calls else x0 for i in range(b.S)]
            ys = [calls[i][1][1] if i in calls else y0 for i in range(b.S)]
            per_seed = b.train_epoch(xs, ys, epoch)
            return {i: per_seed[i] for i in calls}
        xs = [None] * b.S
        for i, (_, args) in calls.items():
            xs[i] = args[0]
        filler = next(x for x in xs if x is not None)
        lengths = {len(xs[i]) for i in calls}
        if len(lengths) != 1:  # different lengths: evaluate seed by seed through the batched code
            return {i: self._one(name, i, xs[i]) for i in calls}
        xs = [x if x is not None else filler for x in xs]  # seeds that left: evaluated on a stand-in, dropped
        rates = b.free_rates(xs)
        if name == "predict":
            return {i: rates[i][-1].argmax(axis=1) for i in calls}
        return {i: rates[i] for i in calls}

    def _one(self, name: str, i: int, x):
        b = self.batch
        rates = b.free_rates([x] * b.S)[i]
        return rates[-1].argmax(axis=1) if name == "predict" else rates


# ---- binding a group to the runner's threads -------------------------------------------------------------------
_BOUND = threading.local()


def bind(members: dict[int, SeedMember] | None) -> None:
    """Make :func:`claim` in this thread hand out these members (seed -> member); None unbinds."""
    _BOUND.members = members


def claim(params: CorInfoMaxParams, seed: int, options: dict) -> SeedMember | None:
    """The member for ``seed`` when this thread runs inside a seed batch with the same parameters, else None."""
    members = getattr(_BOUND, "members", None)
    if not members or int(seed) not in members:
        return None
    m = members[int(seed)]
    if m.params != params:
        raise ConfigError(f"seed {seed}: the seed batch was built for other parameters than this run's")
    dtype = options.get("dtype", "float32")
    if str(dtype).replace("torch.", "") != str(m.batch.dtype).replace("torch.", ""):
        raise ConfigError(f"seed {seed}: the seed batch runs {m.batch.dtype}, the run asks for {dtype}")
    return m
