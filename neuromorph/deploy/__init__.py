"""Prototype neuromorphic deployment of a trained circuit's spiking twin (``neuromorph deploy``).

* :mod:`.targets` - chip profiles as data (Loihi 2, Loihi 1, SpiNNaker 2, Xylo, generic), with sources;
* :mod:`.quantize` - per-projection weight quantisation (mantissa + shared exponent, or symmetric integers);
* :mod:`.twin` - the Brian2 twin run with several weight variants from one compilation;
* :mod:`.pointnet` - the twin read as point neurons, and its Loihi fixed-point (integer) emulation;
* :mod:`.lint` - hardware lint and learning-rule lint;
* :mod:`.energy` - operation counts and per-device energy estimates, with sources;
* :mod:`.nirio` - NIR export and a Norse round trip (``pip install 'neuromorph[deploy]'``);
* :mod:`.nirbrian` - the reverse: a NIR graph of point neurons as a Brian2 model (:func:`nir_to_brian`);
* :mod:`.core` - :func:`deploy`, which writes deploy.json, deploy.md and model.nir;
* :mod:`.loader` - the one function that reads a run folder.

Nothing here knows a circuit: everything is read off the circuit's spiking twin and training model.
"""

from .core import deploy
from .loader import load_trained
from .nirbrian import nir_to_brian, run_nir_brian
from .targets import TARGETS, Target, get_target, register_target, target_names

__all__ = ["deploy", "load_trained", "nir_to_brian", "run_nir_brian", "Target", "TARGETS", "get_target", "register_target", "target_names"]
