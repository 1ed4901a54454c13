"""Reading detectron2's metrics.json (one json object per line) and drawing the loss curves of a
run as a PNG, one line per loss, phases marked. Used by the LossCurveHook during training, by the
phase runner for the merged curves of a two-phase run, and by tools/plot_loss_curves.py."""

from __future__ import annotations

import json
import os
from collections import defaultdict

from ...io.atomic import atomic_open


def read_metrics(metrics_json: str) -> list[dict]:
    """The lines of detectron2's metrics.json (one json object per line); a line cut by a kill is skipped."""
    rows = []
    with open(metrics_json) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def plot_loss_curves(metrics_json: str, out_png: str) -> str | None:
    """Plot every ``*loss*`` series of metrics.json against iteration, one colour per loss and
    one line style per phase (the ``phase`` field written by two-phase training); evaluation
    results (``bbox/AP``) on a second axis. Returns the PNG path, or None without data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_metrics(metrics_json) if "iteration" in r]
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    ap: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        phase = str(r.get("phase", ""))
        for k, v in r.items():
            if "loss" in k and isinstance(v, (int, float)):
                series[(k, phase)].append((r["iteration"], v))
            elif k.endswith("/AP") and isinstance(v, (int, float)):
                ap[k].append((r["iteration"], v))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    phases = sorted({p for _, p in series})
    styles = ["-", "--", ":", "-."]
    colors = {}
    for (k, phase), pts in sorted(series.items()):
        color = colors.setdefault(k, f"C{len(colors) % 10}")
        it, val = zip(*pts)
        label = k if len(phases) == 1 else f"{k} ({phase})"
        ax.plot(it, val, styles[phases.index(phase) % 4], color=color, label=label,
                linewidth=2.0 if k == "total_loss" else 1.0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if ap:
        ax2 = ax.twinx()
        for i, (k, pts) in enumerate(sorted(ap.items())):
            it, val = zip(*pts)
            ax2.plot(it, val, "os^D"[i % 4] + "-", color=("black", "dimgray", "darkred", "navy")[i % 4], label=k)
        ax2.set_ylabel("AP")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left" if not ap else "lower left", fontsize=7, ncol=2)
    ax.set_title(os.path.basename(os.path.dirname(os.path.abspath(metrics_json))) or "training")
    fig.tight_layout()
    with atomic_open(out_png, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return out_png
