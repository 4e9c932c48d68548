"""Run an integer point network in Intel's Lava (lava-nc 0.10, bit-accurate CPU models) and print its spikes.

Runs in a *separate* Python 3.10 environment with lava-nc installed (it needs numpy < 2 and Python 3.10; it is
not a neuromorph dependency). tests/test_deploy_lava.py writes the network as JSON, runs this script with that
interpreter (NEUROMORPH_LAVA_PYTHON) and requires spike-for-spike agreement with
neuromorph.deploy.pointnet.run_fixed_point.

Input JSON: {"steps": T, "input": name, "in_spikes": [[0/1 per input] per step],
             "populations": {name: {"n": n, "du": du, "dv": dv, "vth": vth, "bias": b}},
             "edges": [[projection, pre, post, mantissa (n_pre x n_post ints), exponent], ...]}
Output JSON (stdout): {population: [[0/1 per neuron] per step]}.

Mapping onto Lava: a mantissa m (|m| <= 127) and exponent e >= 0 become Dense weights 2m with
num_weight_bits = 8, sign_mode mixed, weight_exp = e - 1: Lava's mixed-sign 8-bit weights keep 7 magnitude bits
in steps of 2 (its truncate_weights drops the LSB) and the exponent shifts the accumulated sum, so the Dense
output is (sum 2m·s) shifted by e - 1 = (sum m·s) << e exactly. LIF is lava.proc.lif.process.LIF with the
fixed-point (bit-accurate) model selected by Loihi2SimCfg(select_tag="fixed_pt").
"""

import json
import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF
from lava.utils.weightutils import SignMode


def main(path):
    spec = json.load(open(path))
    steps = int(spec["steps"])
    spikes_in = np.asarray(spec["in_spikes"], dtype=int)  # (steps, n_in)
    source = Source(data=spikes_in.T.astype(int))
    lifs, sinks, dense = {}, {}, []
    for name, p in spec["populations"].items():
        lifs[name] = LIF(shape=(p["n"],), du=p["du"], dv=p["dv"], vth=p["vth"], bias_mant=p["bias"], bias_exp=0)
        sinks[name] = Sink(shape=(p["n"],), buffer=steps)
        lifs[name].s_out.connect(sinks[name].a_in)
    for proj, pre, post, mantissa, exponent in spec["edges"]:
        m = np.asarray(mantissa, dtype=int)
        d = Dense(weights=(2 * m).T, num_weight_bits=8, weight_exp=int(exponent) - 1, sign_mode=SignMode.MIXED,
                  name=proj)
        (source.s_out if pre == spec["input"] else lifs[pre].s_out).connect(d.s_in)
        d.a_out.connect(lifs[post].a_in)
        dense.append(d)
    source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {name: sink.data.get().T.astype(int).tolist() for name, sink in sinks.items()}
    source.stop()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
