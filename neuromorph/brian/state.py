"""Leave the caller's Brian2 state as it was: :func:`preserved_brian_state`.

neuromorph's commands switch Brian2 targets as they go (:func:`neuromorph.brian.activate` resets the
devices, the preferences and ``defaultclock.dt``). A researcher who calls ``neuromorph.verify`` from a script
or a notebook between their own Brian2 simulations must find everything as they left it: the active device
with its build options, every preference (``codegen.target``, ``devices.cpp_standalone.openmp_threads``,
compiler flags, ...), ``defaultclock.dt``, the magic network's scope and numpy's global random state (Brian2's
runtime random numbers and ``compare``'s seeding use it).

What cannot be kept: a *standalone* project the caller had half-built in memory. Brian2 holds one project
per device and re-initialising the devices (which every build of ours needs) empties it; the device itself,
its options and preferences come back.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

__all__ = ["preserved_brian_state"]


def _copy(value):
    try:
        return copy.deepcopy(value)
    except Exception:  # a preference holding something uncopyable: keep the reference (we only reassign)
        return value


@contextmanager
def preserved_brian_state():
    """Snapshot Brian2's global state on entry and put it back on exit (also after an exception)."""
    import importlib

    import brian2
    import numpy as np
    from brian2 import prefs
    from brian2.core.base import BrianObject

    # the module, not brian2.devices' `device` proxy of the same name (which `import ... as` would give)
    dev = importlib.import_module("brian2.devices.device")
    saved_prefs = {k: _copy(v) for k, v in prefs.prefs.items()}
    device = dev.active_device
    build_on_run = getattr(device, "build_on_run", True)
    build_options = dict(getattr(device, "build_options", None) or {})
    previous = list(dev.previous_devices)
    clock = getattr(device, "defaultclock", None)
    dt = float(clock.dt_) if clock is not None else None
    scope_key = BrianObject._scope_current_key
    np_state = np.random.get_state()
    try:
        yield
    finally:
        # The user's device object again, with its build options (set_device would push onto the stack).
        if device is not None:
            dev._do_set_device(device, build_on_run, **build_options)
        dev.previous_devices[:] = previous
        # Preferences registered meanwhile (brian2cuda's, on first import) keep their defaults.
        prefs.prefs.update(saved_prefs)
        if dt is not None and device.defaultclock is not None:
            device.defaultclock.dt = dt * brian2.second
        BrianObject._scope_current_key = scope_key
        np.random.set_state(np_state)
