"""`neuromorph equations CIRCUIT` for every registered circuit: what Brian2 simulates, readable and complete.

Checked on the printed text (what a user reads), against the Brian2 objects the circuit builds:
* no float literal with more than 6 significant digits inside an equation (values are namespace symbols);
* every "constant over dt" subexpression (Brian2 stores it as a parameter plus a once-per-step updater) is
  printed as its expression, and the values of the symbols it uses are listed;
* the learning code of every plastic matrix is printed, also where it runs as an event-driven pathway;
* the paper circuits cite equation numbers on most of their lines.
Nothing is compiled (runtime numpy device): a few seconds per circuit.
"""

from __future__ import annotations

import re

import pytest

from neuromorph.brian.equations import _constant_over_dt, long_literals
from neuromorph.circuit import circuit_names, get_circuit

CIRCUITS = circuit_names()


def _printed(capsys, name: str) -> str:
    from neuromorph.cli import main

    assert main(["equations", name]) == 0
    return capsys.readouterr().out


def _blocks(text: str) -> dict[str, list[str]]:
    """{object name: its printed lines (equations and the 'where' line)}."""
    blocks, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            current = line.split("  (", 1)[0] if "  (" in line else None
            if current:
                blocks[current] = []
        elif current and line.startswith("    "):
            blocks[current].append(line.strip())
    return blocks


@pytest.mark.parametrize("name", CIRCUITS)
def test_equations_print_what_brian2_simulates(name, capsys):
    from neuromorph.brian.devices import activate

    text = _printed(capsys, name)
    blocks = _blocks(text)
    assert blocks, f"{name}: nothing printed"
    equations = [line.split("  #", 1)[0] for lines in blocks.values() for line in lines if not line.startswith("where ")]
    assert not long_literals("\n".join(equations)), f"{name}: long literals {long_literals(chr(10).join(equations))}"

    # the Brian2 objects of the circuit (its small verification instance: the same objects and equations; the
    # default URFB configuration is a trainer-only one that `equations` replaces by the nearest circuit)
    activate("numpy")
    for line in get_circuit(name).schedule.brian_flags().splitlines():  # the flags: defined once at the top
        if line.strip():
            assert f"    {line.strip()}\n" in text, f"{name}: the schedule flag {line.strip()!r} is not printed"
    circuit = get_circuit(name).verification_circuit()
    model = circuit.build_brian(circuit.initial_weights(0), circuit.example_data(circuit.schedule.trials_per_update, 0))
    flags = {line.split(" = ", 1)[0].strip() for line in circuit.schedule.brian_flags().splitlines() if "=" in line}
    for obj in model.objects:
        object.__setattr__(obj, "_network", "read by a test")  # never run: no 'not in a network' warning
        for var, expr in _constant_over_dt(obj).items():
            if var in flags:
                continue
            lines = blocks[obj.name]
            defined = [l for l in lines if l.startswith(f"{var} = ")]
            assert defined and "(constant over dt)" in defined[0], f"{name}.{obj.name}: {var} printed as {lines}"
            assert not [l for l in lines if re.match(rf"{var} : ", l)], f"{name}.{obj.name}: {var} still a parameter"
            where = next((l for l in lines if l.startswith("where ")), "")
            for symbol in set(re.findall(r"[A-Za-z_]\w*", expr)) & set(obj.namespace or {}):
                assert f"{symbol} = " in where, f"{name}.{obj.name}: the value of {symbol} (used by {var}) is not listed"
    checked = 0
    for wname, (syn, _shape, _var) in model.weight_probes.items():
        if syn.name not in blocks:  # urfb prints its nearest runnable circuit, which may have fewer layers
            continue
        checked += 1
        learning = [lines for block, lines in blocks.items() if block.startswith(syn.name + "_") or block == syn.name]
        updates = [l for lines in learning for l in lines if re.match(r"w (\+|-)?= ", l)]
        assert updates, f"{name}: no printed code updates the plastic matrix {wname} ({syn.name})"
    assert checked, f"{name}: no plastic matrix found in the printed equations"

    if name != "twocomp":  # twocomp is the toolkit's demo, no paper
        cited = [l for l in equations if "=" in l.split(":", 1)[0] or "+=" in l]
        refs = [l for lines in blocks.values() for l in lines if "#" in l and re.search(r"eqs?\. |App\.|Algorithm|§|reading|rule", l)]
        assert len(refs) >= 0.5 * len(cited), f"{name}: {len(refs)} cited lines of {len(cited)} equations"


def test_corinfomax_step_size_reads_as_an_expression(capsys):
    text = _printed(capsys, "corinfomax")
    assert "mu = (in_free + in_nudged)*clip(mu_u/(mu_decay*s_iter + 1), mu_min, inf) : 1 (constant over dt)" in text
    assert "s_iter = in_free*k + in_nudged*(k - k_nudged) : 1 (constant over dt)" in text
    assert "mu_u = 0.07" in text and "mu_decay = 0.01" in text and "mu_min = 0.001" in text and "k_nudged = 31" in text
    assert "k = timestep(t, dt) % 42 : integer (constant over dt)" in text
    assert "W_ff0_learn  (on event 'learn' (gate_learn_free + gate_learn_nudged > 0) of layer0, end slot, order 1)" in text


def test_urfb_prints_the_rule_6_case_table(capsys):
    """The URFB issue asks for rule (6)'s case table in `neuromorph equations urfb`: every case row, after the
    equations (Circuit.equation_notes); circuits without notes print none."""
    out = _printed(capsys, "urfb")
    table = out[out.index("Output error: the case table"):]
    rows = [line for line in table.splitlines() if line.startswith(("yes", "no"))]
    assert len(rows) == 6  # class presented or not x h below / inside / above the thresholds
    assert "Output error" not in _printed(capsys, "twocomp")
