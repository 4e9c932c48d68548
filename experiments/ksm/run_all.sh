#!/bin/sh
# Runs every KSM config of this folder through `neuromorph run` into results/ksm/<name>, then the summary.
# On a tree without the smpc circuit (circuits/smpc), pass STANDIN=1: the configs then run on
# circuits/ksm/standin.py:KSMStandIn (the same KSM solver; see that file).
set -e
cd "$(dirname "$0")/../.."
SET=""
[ "${STANDIN:-0}" = 1 ] && SET='--set circuit="circuits/ksm/standin.py:KSMStandIn"'
for cfg in synthetic_sparse synthetic_sparse_cold synthetic_sparse_schedule3 moons_simplex patches fashion_mnist; do
    eval neuromorph run "experiments/ksm/$cfg.toml" --out "results/ksm/$cfg" --no-progress $SET
done
neuromorph summarize results/ksm --metric test_r2 fit_r2 --out results/ksm
python experiments/ksm/collect.py
