"""Deployment targets as data: one :class:`Target` profile per chip, with the source of every figure.

A profile states what the lint checks (weight format and bits, state and threshold widths, neurons, axons and
synapse memory per core, chip-level input/output limits, supported constructs, learning-engine shape) and
which row of :data:`neuromorph.deploy.energy.DEVICES` prices its operations. Nothing here knows a circuit.

Add a target by adding a profile: ``register_target(Target(name="mychip", ...))`` at run time, or one more
entry in :data:`TARGETS`. ``generic`` takes its bits and limits as parameters (:func:`generic_target`).

Sources (read in the projects' public source or papers; "reported" = secondary source, not verified here):

* Loihi 2 - Lava (lava-nc/lava 0.10) ``proc/dense/process.py`` (``num_weight_bits`` default 8 with a shared
  ``weight_exp`` per projection, ``sign_mode``), ``proc/lif/models.py`` ``PyLifModelBitAcc`` (u, v 24-bit signed;
  du, dv 12-bit as d/4096; bias mantissa 13-bit + 3-bit exponent; threshold 17-bit unsigned shifted left by 6;
  synaptic input 16-bit shifted left by 6), Lava learning rules (``LoihiLearningRule``: sum-of-products over
  x0, x1, x2, y0..y3, u, w, d, t; traces 7 integer + 8 fraction bits; ``Loihi3FLearningRule`` third factor at
  the post neuron); brian2lava ``LOIHI2_SPECS`` (weight mantissa 255, exponent ±7); Intel Loihi 2 brief 2021
  (reported: up to 8,192 neurons per core, 128 cores, graded spikes up to 32-bit payload).
* Loihi 1 - nengo-loihi ``builder/discretize.py`` and ``block.py`` / ``hardware/nxsdk_objects.py``: 1,024
  compartments, 4,096 input and 4,096 output axons, 16,384 x 64 bits (128 KiB) synapse memory per core,
  weight exponent -7..7, weight magnitude 8 bits + sign; Davies et al., IEEE Micro 38(1) 2018 (128 cores).
* SpiNNaker 2 - SpiNNaker2 datasheet v0.03 (152 ARM Cortex-M4F PEs per chip, 128 KB SRAM each); sPyNNaker's
  default 256 neurons per core (``max_atoms_per_core``) and 16-bit synaptic weights (reported).
* Xylo (Audio 2, SYNS61201) - Rockpool ``devices/xylo/syns61201/xylo_mapper.py`` design-rule checks: at most
  16 input channels, 1,000 hidden and 8 output neurons, int8 weights with per-layer bit shifts, 16-bit
  thresholds, bit-shift decays.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["Target", "TARGETS", "get_target", "register_target", "generic_target", "target_names"]


@dataclass(frozen=True)
class Target:
    """One chip's limits. ``None`` means "no limit of this kind" (or unknown: ``sources`` says which)."""

    name: str
    title: str
    # weights: "mantissa_exp" = signed mantissa of ``weight_bits`` bits (sign included) times 2**exp with one
    # shared exponent per projection in [exp_min, exp_max]; "int" = symmetric signed integers of weight_bits
    # bits with one float scale per projection (Xylo's int8 + bit shift is the special case scale = 2**-shift).
    weight_format: str = "mantissa_exp"
    weight_bits: int = 8
    weight_exp_range: tuple[int, int] = (-7, 7)
    state_bits: int | None = 24
    decay_bits: int | None = 12
    threshold_bits: int | None = 17
    neurons_per_core: int | None = None
    fan_in_per_core: int | None = None  # input axons per core
    fan_out_per_core: int | None = None  # output axons per core
    synapse_memory_bits_per_core: int | None = None
    bits_per_synapse: int = 16  # weight + index word used for synapse-memory estimates
    cores_per_chip: int | None = None
    max_inputs: int | None = None  # chip-level input channels
    max_hidden: int | None = None
    max_outputs: int | None = None
    min_neuron_layers: int | None = None
    multi_compartment: bool = False
    graded_spikes: bool = False
    signed_spikes: bool = False
    on_chip_learning: bool = False
    # Learning engine (sum-of-products form): how many pre traces, post traces and third factors it offers.
    learning: dict = field(default_factory=dict)
    energy_device: str = "cpu"
    sources: tuple[str, ...] = ()

    def describe(self) -> dict:
        return dataclasses.asdict(self)


TARGETS: dict[str, Target] = {}


def register_target(target: Target) -> None:
    """Add (or replace) a profile; ``neuromorph deploy --target NAME`` finds it by ``target.name``."""
    if not isinstance(target, Target):
        raise ConfigError(f"register_target expects a Target, got {type(target).__name__}")
    if target.weight_format not in ("mantissa_exp", "int"):
        raise ConfigError(f"target {target.name!r}: weight_format must be 'mantissa_exp' or 'int', got {target.weight_format!r}")
    if not 1 <= target.weight_bits <= 32:
        raise ConfigError(f"target {target.name!r}: weight_bits must be in 1..32, got {target.weight_bits}")
    TARGETS[target.name] = target


register_target(Target(
    name="loihi2",
    title="Intel Loihi 2",
    weight_format="mantissa_exp",
    weight_bits=8,  # num_weight_bits (Lava Dense default), sign included for sign_mode='mixed'
    weight_exp_range=(-7, 7),  # brian2lava LOIHI2_SPECS: exponent magnitude up to 7
    state_bits=24,
    decay_bits=12,
    threshold_bits=17,
    neurons_per_core=8192,  # Intel brief 2021 (reported): up to 1 M neurons on 128 cores
    fan_in_per_core=None,  # Loihi 2 axon limits are not published; synapse memory is the binding limit
    fan_out_per_core=None,
    synapse_memory_bits_per_core=128 * 1024 * 8,  # reported 128 KiB class; Loihi 1's figure kept as the estimate
    bits_per_synapse=16,
    cores_per_chip=128,
    multi_compartment=True,  # programmable neuron microcode (reported); Lava's LIF processes are point neurons
    graded_spikes=True,  # num_message_bits > 0, payload up to 32 bits (Intel brief, reported)
    signed_spikes=True,  # graded payloads are signed integers
    on_chip_learning=True,
    learning={"form": "sum_of_products", "pre_traces": 2, "post_traces": 3, "third_factors": 3,
              "trace_bits": "7 integer + 8 fraction", "weight_bits": "8 + sign", "epoch_updates": True},
    energy_device="loihi",
    sources=("lava-nc/lava 0.10: proc/dense/process.py, proc/lif/models.py PyLifModelBitAcc, magma/core/learning",
             "brian2lava LOIHI2_SPECS", "Intel Loihi 2 technology brief 2021 (reported)"),
))

register_target(Target(
    name="loihi1",
    title="Intel Loihi (1)",
    weight_format="mantissa_exp",
    weight_bits=9,  # 8-bit magnitude + sign (nengo-loihi discretize_weights: -256..255)
    weight_exp_range=(-7, 7),
    state_bits=24,
    decay_bits=12,
    threshold_bits=17,
    neurons_per_core=1024,
    fan_in_per_core=4096,
    fan_out_per_core=4096,
    synapse_memory_bits_per_core=16384 * 64,
    bits_per_synapse=16,
    cores_per_chip=128,
    multi_compartment=True,  # dendritic compartment trees (Davies 2018)
    graded_spikes=False,
    signed_spikes=False,
    on_chip_learning=True,
    learning={"form": "sum_of_products", "pre_traces": 2, "post_traces": 3, "third_factors": 1,
              "trace_bits": "7", "weight_bits": "8 + sign", "epoch_updates": True},
    energy_device="loihi",
    sources=("nengo-loihi builder/discretize.py, block.py, hardware/nxsdk_objects.py",
             "Davies et al., IEEE Micro 38(1) 2018"),
))

register_target(Target(
    name="spinnaker2",
    title="SpiNNaker 2",
    weight_format="int",
    weight_bits=16,  # sPyNNaker synaptic words carry 16-bit weights (reported)
    weight_exp_range=(0, 0),
    state_bits=32,  # software neurons on ARM Cortex-M4F (float or s16.15 fixed point)
    decay_bits=None,
    threshold_bits=None,
    neurons_per_core=256,  # sPyNNaker default max_atoms_per_core
    synapse_memory_bits_per_core=128 * 1024 * 8,  # 128 KB SRAM per PE (datasheet v0.03), shared with code/state
    bits_per_synapse=32,
    cores_per_chip=152,
    multi_compartment=True,  # software-defined neurons
    graded_spikes=True,  # SpiNNaker2 packets can carry payloads (reported)
    signed_spikes=True,
    on_chip_learning=True,
    learning={"form": "software", "pre_traces": None, "post_traces": None, "third_factors": None},
    energy_device="spinnaker2",
    sources=("SpiNNaker2 datasheet v0.03 (SpiNNakerManchester/SpiNNMachine)", "sPyNNaker max_atoms_per_core (reported)",
             "Höppner et al., IEEE TCAS-I 66(8) 2019"),
))

register_target(Target(
    name="xylo",
    title="SynSense Xylo Audio 2",
    weight_format="int",
    weight_bits=8,
    weight_exp_range=(0, 0),
    state_bits=16,
    decay_bits=4,  # bit-shift decays: tau = 2**dash steps
    threshold_bits=16,
    neurons_per_core=1008,  # the whole chip is one core: 1,000 hidden + 8 output
    max_inputs=16,
    max_hidden=1000,
    max_outputs=8,
    min_neuron_layers=2,
    multi_compartment=False,
    graded_spikes=False,
    signed_spikes=False,
    on_chip_learning=False,
    learning={"form": "none"},
    energy_device="cpu",  # no per-operation figure published; priced as the CPU row (labelled in the report)
    sources=("Rockpool devices/xylo/syns61201 xylo_mapper.py design-rule checks",),
))


def generic_target(*, weight_bits: int = 8, weight_format: str = "int", neurons_per_core: int | None = None,
                   fan_in_per_core: int | None = None, synapse_memory_bits_per_core: int | None = None,
                   state_bits: int | None = None, energy_device: str = "cpu") -> Target:
    """A ``generic`` profile whose bits and limits are the arguments (no limit where None)."""
    return Target(
        name="generic", title=f"generic ({weight_bits}-bit {weight_format} weights)", weight_format=weight_format,
        weight_bits=int(weight_bits), weight_exp_range=(-16, 16) if weight_format == "mantissa_exp" else (0, 0),
        state_bits=state_bits, decay_bits=None, threshold_bits=None, neurons_per_core=neurons_per_core,
        fan_in_per_core=fan_in_per_core, synapse_memory_bits_per_core=synapse_memory_bits_per_core,
        multi_compartment=True, graded_spikes=True, signed_spikes=True, on_chip_learning=True,
        learning={"form": "any"}, energy_device=energy_device, sources=("user parameters",),
    )


register_target(generic_target())


def target_names() -> list[str]:
    return sorted(TARGETS)


def get_target(name: str, *, weight_bits: int | None = None) -> Target:
    """The profile called ``name``; ``weight_bits`` overrides its weight width (for bit sweeps)."""
    if name not in TARGETS:
        raise ConfigError(f"unknown target {name!r}; known targets are {target_names()} (add one with register_target)")
    t = TARGETS[name]
    if weight_bits is not None:
        if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) or not 2 <= weight_bits <= 32:
            raise ConfigError(f"--weight-bits must be an integer in 2..32 (sign + magnitude), got {weight_bits!r}")
        t = dataclasses.replace(t, weight_bits=weight_bits)
    return t
