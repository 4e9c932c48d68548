"""Operation counts and energy estimates per inference and per training sample.

Energy = Σ counts × energy per operation, with the per-operation figures below. Every figure is an
*estimate* from published per-operation energies (minimum values, static power and memory traffic excluded),
never a measurement; the report labels it so.

Sources of :data:`DEVICES`:

* ``loihi``: Davies et al., "Loihi: a neuromorphic manycore processor with on-chip learning", IEEE Micro 38(1)
  2018, Table 2 (pre-silicon minimum figures): 23.6 pJ per synaptic spike operation, 3.5 pJ per tile hop
  (3.0-4.0 pJ; keras-spiking adds 3.5 pJ to every synop, as done here), 81 pJ per active neuron update,
  120 pJ per synaptic (learning) update.
* ``spinnaker``, ``spinnaker2``, ``cpu``, ``gpu``, ``arm``: nengo/keras-spiking ``model_energy.py`` device table
  (SpiNNaker 13.3 nJ/synop and 26 nJ/neuron update; SpiNNaker 2 450 pJ and 2.19 nJ, Höppner et al., IEEE
  TCAS-I 66(8) 2019; CPU 8.6 nJ, GPU 0.3 nJ, ARM 0.9 nJ per operation, Degnan, Marr & Hasler, IEEE TVLSI 24(1)
  2015). These devices publish no per-weight-update figure: a weight update is priced as one synop here.
* ``horowitz45``: Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: 32-bit float multiply 3.7 pJ +
  add 0.9 pJ = 4.6 pJ per MAC, 0.9 pJ per accumulate (AC): the rate network's MACs, and a spike's synop as one AC.
"""

from __future__ import annotations

__all__ = ["DEVICES", "spiking_energy", "rate_energy", "training_counts"]

DEVICES: dict[str, dict] = {
    "loihi": {"synop": 23.6e-12 + 3.5e-12, "neuron": 81e-12, "weight_update": 120e-12,
              "source": "Davies et al. 2018 Table 2 (synop + 3.5 pJ hop as keras-spiking); 120 pJ synaptic update"},
    "spinnaker": {"synop": 13.3e-9, "neuron": 26e-9, "weight_update": 13.3e-9,
                  "source": "keras-spiking device table (SpiNNaker 1); weight update priced as a synop"},
    "spinnaker2": {"synop": 450e-12, "neuron": 2.19e-9, "weight_update": 450e-12,
                   "source": "keras-spiking device table (Höppner et al. 2019); weight update priced as a synop"},
    "cpu": {"synop": 8.6e-9, "neuron": 8.6e-9, "weight_update": 8.6e-9, "mac": 8.6e-9,
            "source": "keras-spiking device table (Degnan et al. 2015): 8.6 nJ per operation"},
    "gpu": {"synop": 0.3e-9, "neuron": 0.3e-9, "weight_update": 0.3e-9, "mac": 0.3e-9,
            "source": "keras-spiking device table (Degnan et al. 2015): 0.3 nJ per operation"},
    "horowitz45": {"synop": 0.9e-12, "neuron": 0.9e-12, "weight_update": 4.6e-12, "mac": 4.6e-12,
                   "source": "Horowitz ISSCC 2014, 45 nm fp32: MAC 4.6 pJ, AC 0.9 pJ (synop = AC; weight update = MAC)"},
}


def spiking_energy(counts: dict) -> dict[str, float]:
    """Joules per device for ``counts`` = {synops, neuron_updates, weight_updates} (missing keys: 0)."""
    out = {}
    for dev, e in DEVICES.items():
        out[dev] = (counts.get("synops", 0) * e["synop"] + counts.get("neuron_updates", 0) * e["neuron"]
                    + counts.get("weight_updates", 0) * e["weight_update"])
    return out


def rate_energy(macs: float, neuron_updates: float = 0.0, weight_updates: float = 0.0) -> dict[str, float]:
    """Joules of the rate network on the devices with a MAC figure (CPU, GPU, 45 nm MAC)."""
    return {dev: macs * e["mac"] + neuron_updates * e["neuron"] + weight_updates * e["weight_update"]
            for dev, e in DEVICES.items() if "mac" in e}


def training_counts(circuit, learning: list[dict], plastic_synapses: dict[str, int]) -> dict:
    """Counts of one training sample of the rate network (the way neuromorph trains): MACs (every synapse,
    every integration step of the schedule), neuron updates, and weight updates (one accumulate per plastic
    synapse each time one of its gates opens, plus one write per plastic synapse per update window)."""
    sch = circuit.schedule
    shapes = circuit.weight_shapes()
    mats = [s for s in shapes.values() if len(s) == 2]  # 1-D entries (biases) are no synapses
    dense = sum(a * b for a, b in mats)
    neurons = sum(b for _, b in mats)  # postsynaptic units (an upper bound: shared posts repeat)
    gate_phases: dict[str, int] = {}
    for ph in sch.describe():
        for g in ph.get("gates", ()):
            gate_phases[g] = gate_phases.get(g, 0) + 1
    wu = 0.0
    for rule in learning:
        gates = [name for name, kind in rule["factors"].items() if kind.endswith(":gate") and not name.startswith("apply")]
        opens = 0
        for g in gates:
            base = g[:-5] if g.endswith("_post") else g[:-4] if g.endswith("_pre") else g
            base = base[5:] if base.startswith("gate_") else base
            opens += gate_phases.get(base, 0) or 1
        n = plastic_synapses.get(rule["matrix"], 0)
        wu += n * max(opens, 1) + n / max(sch.trials_per_update, 1)
    return {"macs": dense * sch.trial_steps, "neuron_updates": neurons * sch.trial_steps, "weight_updates": wu,
            "trial_steps": sch.trial_steps, "phases": len(sch.describe())}
