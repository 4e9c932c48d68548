"""Plot the FMNIST runs: test accuracy and the W_ff / W_fbᵀ angle per epoch, one line per seed.

    python experiments/corinfomax/plot_results.py   # writes experiments/corinfomax/results/fmnist_{accuracy,angles}.png
"""

import glob
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from neuromorph.io import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"


def main():
    runs = {Path(f).stem: [json.loads(line) for line in open(f) if line.strip()] for f in sorted(glob.glob(str(RESULTS / "fmnist_*.jsonl")))}
    for key, ylabel, fname, scale in (("test_acc", "test accuracy (%)", "fmnist_accuracy.png", 100.0), ("angle_1", "angle W_ff⁽¹⁾ vs W_fb⁽¹⁾ᵀ (degrees)", "fmnist_angles.png", 1.0)):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, rows in runs.items():
            ax.plot([r["epoch"] + 1 for r in rows], [scale * r[key] for r in rows], label=name.replace("fmnist_", ""), lw=1.2)
        if key == "test_acc":
            ax.axhline(88.14, color="k", ls=":", lw=1, label="paper B∞,+ 88.14")
            ax.set_ylim(75, 90)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_write_bytes(RESULTS / fname, buf.getvalue())
        print("wrote", RESULTS / fname)


if __name__ == "__main__":
    main()
