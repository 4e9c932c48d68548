"""Progress a person can follow, on a terminal and in a cluster log alike.

Two things take long in neuromorph: loops over samples (training epochs) and single blocking steps (building
a Brian2 model, compiling a standalone binary, a simulation run). Both report on stderr:

* :func:`progress_bar` – a counter. On a terminal it is a tqdm bar; when stderr is *not* a terminal (a
  batch job's log file, a pipe) it writes one plain line every ``interval`` seconds and one at the end,
  instead of tqdm's carriage-return frames (hundreds per epoch, which flood log files).
* :func:`task` – a blocking step: ``with task("cpp: compiling"):`` prints what is happening, keeps the elapsed
  time visible while it runs (on a terminal: the same line rewritten; in a log: a line every ``interval``
  seconds, so a long CUDA build shows it is alive) and ends with ``done in 12.3 s``.

``interval`` defaults to 5 s; ``NEUROMORPH_PROGRESS_INTERVAL`` (seconds) changes it, and
``NEUROMORPH_PROGRESS=0`` silences both.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["progress_bar", "task", "is_tty", "default_interval"]


def is_tty(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def default_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("NEUROMORPH_PROGRESS_INTERVAL", "5")))
    except ValueError:
        return 5.0


def _enabled(enabled: bool) -> bool:
    return enabled and os.environ.get("NEUROMORPH_PROGRESS", "1") not in ("0", "false", "no", "off")


def _fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{1e3 * seconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class PlainProgress:
    """A tqdm-like counter that writes a full line every ``interval`` seconds (for logs, not terminals)."""

    def __init__(self, total: int | None, desc: str, unit: str, stream, interval: float, disable: bool = False):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.interval, self.disable = interval, disable
        self.n = 0
        self.t0 = self._last = time.perf_counter()
        self._closed = False

    def _line(self, final: bool) -> str:
        el = time.perf_counter() - self.t0
        rate = self.n / el if el > 0 else 0.0
        if self.total:
            pct = 100.0 * self.n / self.total
            eta = (self.total - self.n) / rate if rate > 0 and not final else 0.0
            tail = f", {_fmt_s(eta)} left" if not final and rate > 0 else ""
            return f"{self.desc}: {self.n}/{self.total} {self.unit}s ({pct:.0f} %), {_fmt_s(el)}, {rate:.1f} {self.unit}/s{tail}"
        return f"{self.desc}: {self.n} {self.unit}s, {_fmt_s(el)}, {rate:.1f} {self.unit}/s"

    def update(self, n: int = 1) -> None:
        if self.disable:
            return
        self.n += n
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            print(self._line(False), file=self.stream, flush=True)

    def close(self) -> None:
        if self.disable or self._closed:
            return
        self._closed = True
        print(self._line(True) + (" - done" if self.total and self.n >= self.total else ""), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress_bar(total: int | None, desc: str, *, unit: str = "sample", enabled: bool = True, stream=None,
                 interval: float | None = None):
    """A counter with ``update(n)`` and ``close()``: tqdm on a terminal, periodic plain lines otherwise."""
    stream = sys.stderr if stream is None else stream
    disable = not _enabled(enabled)
    if is_tty(stream):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, dynamic_ncols=True, file=stream)
    return PlainProgress(total, desc, unit, stream, default_interval() if interval is None else interval, disable)


@contextmanager
def task(label: str, *, enabled: bool = True, stream=None, interval: float | None = None):
    """Report a blocking step: its start, that it is still running, and its duration.

    Yields a dict; put figures into it (``info["note"] = "3 trials"``) to have them printed with the result.
    """
    stream = sys.stderr if stream is None else stream
    info: dict = {}
    if not _enabled(enabled):
        yield info
        return
    tty = is_tty(stream)
    interval = default_interval() if interval is None else interval
    t0 = time.perf_counter()
    stop = threading.Event()
    lock = threading.Lock()

    def beat():
        period = 0.5 if tty else interval
        while not stop.wait(period if period > 0 else 3600):
            with lock:
                el = _fmt_s(time.perf_counter() - t0)
                if tty:  # \033[K: clear what a longer earlier frame left on the line
                    print(f"\r{label} ... {el}\033[K", end="", file=stream, flush=True)
                else:
                    print(f"{label} ... still running, {el}", file=stream, flush=True)

    print(f"{label} ..." if not tty else f"{label} ...", end="" if tty else "\n", file=stream, flush=True)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    failed = False
    try:
        yield info
    except BaseException:
        failed = True
        raise
    finally:
        stop.set()
        thread.join()
        el = _fmt_s(time.perf_counter() - t0)
        note = f" ({info['note']})" if info.get("note") else ""
        with lock:
            prefix = "\r" if tty else ""
            clear = "\033[K" if tty else ""
            print(f"{prefix}{label} ... {'FAILED after' if failed else 'done in'} {el}{note}{clear}", file=stream, flush=True)
