"""Thread lanes of the fast trainer: row blocks of a batch integrated concurrently.

With two or more threads the batch is split into row blocks (:class:`Block`, views into the full-batch
buffers); the calling thread runs the first and persistent :class:`Worker` threads (one torch thread each)
the others. The sweep kernels release the GIL, so the lanes really run in parallel. Rows do not interact
during the dynamics, so every lane works on its own rows only.
"""

from __future__ import annotations

import queue
import threading

import torch

__all__ = ["Block", "Worker", "run_parallel"]

class Block:
    """Dynamics state of a block of rows (a view into the full-batch buffers)."""

    __slots__ = ("n", "x", "y", "u", "r", "rf", "E", "G", "a", "q", "qf", "tmp", "Z")

    def __init__(self, bufs: dict, lo: int, hi: int):
        sl = slice(lo, hi)
        self.n = hi - lo
        self.x = bufs["x"][sl]
        self.y = bufs["y"][sl]
        self.u = [None] + [t[sl] for t in bufs["u"][1:]]
        self.r = [self.x] + [t[sl] for t in bufs["r"][1:]]
        self.rf = [self.x] + [t[sl] for t in bufs["rf"][1:]]
        self.E = [None] + [t[sl] for t in bufs["E"][1:]]
        self.G = [None] + [t[sl] for t in bufs["G"][1:]]
        self.a = [None] + [t[sl] for t in bufs["a"][1:]] if bufs["a"] else None
        self.q = [None] + [t[sl] for t in bufs["q"][1:]] if bufs["q"] else None
        self.qf = [None] + [t[sl] for t in bufs["qf"][1:]] if bufs["qf"] else None
        self.tmp = bufs["tmp"][sl] if bufs["tmp"] is not None else None
        self.Z = [None] + [t[sl] for t in bufs["Z"][1:]] if bufs["Z"] else None


class Worker:
    """A persistent thread running blocks with one torch thread (torch releases the GIL inside ops)."""

    def __init__(self):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        torch.set_num_threads(1)
        with torch.inference_mode():
            while True:
                task = self.tasks.get()
                if task is None:
                    return
                try:
                    task()
                    self.done.put(None)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    self.done.put(exc)

    def submit(self, fn):
        self.tasks.put(fn)

    def wait(self):
        exc = self.done.get()
        if exc is not None:
            raise exc

    def close(self):
        self.tasks.put(None)



def run_parallel(workers: list, fns: list) -> None:
    """Run fns[0] on this thread and fns[1:] on ``workers`` (grown as needed), waiting for all of them.

    The first error raised by any of them is re-raised after every worker has finished its task.
    """
    if len(fns) == 1:
        fns[0]()
        return
    while len(workers) < len(fns) - 1:
        workers.append(Worker())
    for wk, fn in zip(workers, fns[1:]):
        wk.submit(fn)
    err = None
    try:
        fns[0]()
    except BaseException as exc:  # noqa: BLE001
        err = exc
    for wk in workers[: len(fns) - 1]:
        try:
            wk.wait()
        except BaseException as exc:  # noqa: BLE001
            err = err or exc
    if err is not None:
        raise err
