#!/bin/sh
# Runs every KSM config of this folder through `neuromorph run` into results/ksm/<name>, then the summary.
set -e
cd "$(dirname "$0")/../.."
for cfg in synthetic_sparse synthetic_sparse_cold synthetic_sparse_schedule3 moons_simplex patches fashion_mnist; do
    neuromorph run "experiments/ksm/$cfg.toml" --out "results/ksm/$cfg" --no-progress
done
neuromorph summarize results/ksm --metric test_r2 fit_r2 --out results/ksm
python experiments/ksm/collect.py
