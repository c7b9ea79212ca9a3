"""Drawings of a tabletop world: text (render_mode "ansi") and pictures (top and side views).

The text shows every tower bottom-up, the blocks alone on the table, what the gripper holds and, for
order fulfillment, what each container holds. The pictures are matplotlib figures, written as PNGs by
`neuralprog trace --frames`.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from neuralprog.envs.tabletop.world import BLOCK, KinematicWorld

COLOURS = (
    "tab:red",
    "tab:blue",
    "tab:green",
    "tab:orange",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
)


def text(world: KinematicWorld, row: int) -> str:
    n = int(world.n_objects[row])
    blocks = [i for i in range(n) if not world.containers[row, i]]
    lines = []
    if world.containers[row].any():
        for k, c in enumerate(np.flatnonzero(world.containers[row, :n])):
            inside = [int(world.category[row, i]) for i in np.flatnonzero(world.inside[row] == c)]
            lines.append(f"container {k}: categories {sorted(inside)}")
        left = [i for i in blocks if world.inside[row, i] < 0]
        counts = np.bincount(world.category[row, left], minlength=4) if left else np.zeros(4, dtype=int)
        lines.append(
            "on the table: " + ", ".join(f"{c} x category {k}" for k, c in enumerate(counts.tolist()))
        )
    else:
        towers = world.towers(row, len(blocks))
        stacked = {b for t in towers for b in t}
        lines += [f"tower: {' < '.join(map(str, t))}  (bottom first)" for t in towers]
        alone = [b for b in blocks if b not in stacked and b != world.held[row]]
        lines.append(f"alone on the table: {alone}")
    held = int(world.held[row])
    lines.append(
        f"gripper at {np.round(world.gripper[row], 3).tolist()}, "
        + (f"holding {held}" if held >= 0 else "open")
    )
    if world.failed[row]:
        lines.append(f"FAILED: {world.reasons[row]}")
    if world.toppled[row]:
        lines.append(f"toppled blocks: {int(world.toppled[row])}")
    if world.knocked[row]:
        lines.append(f"calls that knocked a tower: {int(world.knocked[row])}")
    return "\n".join(lines)


def snapshot(world: KinematicWorld, row: int) -> dict:
    """What a picture of one world needs, copied (the world goes on changing)."""
    n = int(world.n_objects[row])
    return {
        "positions": world.positions[row, :n].copy(),
        "containers": world.containers[row, :n].copy(),
        "category": world.category[row, :n].copy(),
        "inside": world.inside[row, :n].copy(),
        "gripper": world.gripper[row].copy(),
        "held": int(world.held[row]),
    }


def pictures(snapshots: list[dict], titles: list[str], path: str | Path | BinaryIO, columns: int = 4) -> None:
    """One PNG: per snapshot, a top view (blocks labelled index:level when stacked, containers grey, the
    gripper a cross, a held object starred) and a side view (x against height), in a grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = (len(snapshots) + columns - 1) // columns
    fig, axes = plt.subplots(
        rows, 2 * columns, figsize=(3.0 * columns, 1.9 * rows), squeeze=False,
        gridspec_kw={"width_ratios": [1.0, 0.8] * columns},
    )  # fmt: skip
    for ax in axes.flat:
        ax.axis("off")
    for k, (snap, title) in enumerate(zip(snapshots, titles, strict=True)):
        top, side = axes[k // columns, 2 * (k % columns)], axes[k // columns, 2 * (k % columns) + 1]
        p = snap["positions"]
        n_bins = int(snap["containers"].sum())
        for i in np.argsort(p[:, 2]).tolist():
            if snap["inside"][i] >= 0:
                continue
            x, y, z = p[i]
            if snap["containers"][i]:
                colour, size, label = "lightgrey", 2.4 * BLOCK, f"C{i - (len(p) - n_bins)}"
            else:
                cat = int(snap["category"][i])
                colour = COLOURS[cat if cat >= 0 else i % len(COLOURS)]
                level = round((z - BLOCK / 2) / BLOCK) + 1
                size = BLOCK * (1 - 0.12 * (level - 1))  # higher blocks drawn smaller, so towers show
                label = "" if cat >= 0 else (str(i) if level == 1 else f"{i}:{level}")
                if i == snap["held"]:
                    label = f"{label or cat}*"
            top.add_patch(
                Rectangle((x - size / 2, y - size / 2), size, size, color=colour, ec="black", lw=0.5)
            )
            side.add_patch(
                Rectangle((x - BLOCK / 2, z - BLOCK / 2), BLOCK, BLOCK, color=colour, ec="black", lw=0.5)
            )
            if label:
                top.text(x, y, label, ha="center", va="center", fontsize=5)
        gx, gy, gz = snap["gripper"]
        top.plot([gx], [gy], "k+", ms=8)
        side.plot([gx, gx], [gz, gz + 0.06], "k-", lw=2)
        top.set(xlim=(-0.08, 0.72), ylim=(-0.08, 0.88 if n_bins else 0.4), aspect="equal")
        side.set(xlim=(-0.08, 0.72), ylim=(0, 0.55), aspect="equal")
        top.set_title(title, fontsize=7)
        side.set_title("side", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def picture(world: KinematicWorld, row: int) -> np.ndarray:
    """The drawing of `pictures` for one world, as an RGB array (H, W, 3) uint8."""
    import io

    import matplotlib.image

    buffer = io.BytesIO()
    pictures([snapshot(world, row)], [""], buffer, columns=1)
    buffer.seek(0)
    rgba = matplotlib.image.imread(buffer, format="png")
    return (rgba[..., :3] * 255).round().astype(np.uint8)
