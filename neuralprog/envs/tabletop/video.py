"""Demonstrations as video: the expert's run filmed in physics, and a colour detector that reads object
positions back off the frames, as the NTP paper's detector did.

A video is one RGB image and one depth map per demonstration frame (the state before the first API call
and after each one) from each of the task's two fixed, calibrated cameras (`physics.cameras`). Every
object has its own colour (a stacking block, an order-fulfillment category or container; the gripper is
black), far apart in hue. The detector classifies each pixel by hue, lifts it to a 3D point with the depth
map and the camera's calibration, and pools the points of each colour over both views. A cube's visible
surface reaches its top and, seen from two opposite corners, both of its sides in x and y, so its centre
is the middle of the points' extent in x and y and half a block below their top; a container's reference
point is the middle of its walls, half a block above the table; the gripper's point lies just below the
top of its palm. The task then computes the observation from the detected positions exactly as from the
simulator's (`TabletopTask.video_frames`); the expert's demonstrations are filmed by `experts.film`.

On disk a video is a directory of PNGs: `rgb_000.png` (the two views side by side) and `depth_000.png`
(16-bit, millimetres, the same layout), which `solve` accepts as a problem's "demonstration".
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralprog.envs.tabletop.physics import PALETTE, PALM_TOP, camera_axes, cameras, colour_of
from neuralprog.envs.tabletop.world import BLOCK

VIEW = (160, 160)
"""Height and width of each camera's image (pixels)."""
HUE_TOLERANCE = 12.0
"""Degrees of hue within which a pixel takes a palette colour."""
MIN_SATURATION = 0.45
"""Saturation below which a pixel is grey (the table) or black (the gripper), never an object."""
MIN_POINTS = 4
"""Pixels of a colour needed to detect its object."""
HUES = np.array([colorsys.rgb_to_hsv(*rgb)[0] * 360 for rgb in PALETTE])


@dataclass
class Video:
    """A filmed demonstration: per frame and camera, an RGB image and a depth map (m)."""

    rgb: np.ndarray  # (L, 2, H, W, 3) uint8
    depth: np.ndarray  # (L, 2, H, W) float32


@dataclass
class Detection:
    """What the detector saw in one frame."""

    positions: np.ndarray  # (N, 3) object centres (NaN where unseen)
    gripper: np.ndarray  # (3,)


def _points(rgb: np.ndarray, depth: np.ndarray, camera: dict) -> tuple[np.ndarray, np.ndarray]:
    """The palette label (len(PALETTE): the black gripper) and 3D point of every pixel that shows an
    object: (P,) and (P, 3). The grey table and the black sky beyond it show none."""
    h, w = depth.shape
    rgbf = rgb.reshape(-1, 3).astype(np.float32) / 255
    top, low = rgbf.max(1), rgbf.min(1)
    sat = (top - low) / np.maximum(top, 1e-6)
    vivid = (sat > MIN_SATURATION) & (top > 0.15)
    dark = (top < 0.2) & (sat < 0.5)
    pick = np.flatnonzero(vivid | dark)
    r, g, b = rgbf[pick].T
    span = np.maximum(top[pick] - low[pick], 1e-6)
    hue = np.select(
        [top[pick] == r, top[pick] == g], [((g - b) / span) % 6, (b - r) / span + 2], (r - g) / span + 4
    )
    gap = np.abs(hue[:, None] * 60 - HUES[None, :])
    gap = np.minimum(gap, 360 - gap)
    label = np.where(gap.min(1) < HUE_TOLERANCE, gap.argmin(1), -1)
    label = np.where(dark[pick], len(PALETTE), np.where(vivid[pick], label, -1))
    right, up, forward = camera_axes(camera)
    f = (h / 2) / np.tan(np.radians(camera["fovy"]) / 2)
    x = (pick % w + 0.5 - w / 2) / f
    y = (h / 2 - pick // w - 0.5) / f
    d = depth.reshape(-1)[pick].astype(np.float64)[:, None]
    points = camera["pos"] + d * (x[:, None] * right + y[:, None] * up + forward)
    away = np.abs(points[:, :2] - camera["lookat"][:2]).max(1) > 1.0  # the sky beyond the table
    keep = (label >= 0) & ~away & (points[:, 2] > -0.01) & (points[:, 2] < 1.0)
    return label[keep], points[keep]


def detect(video: Video, containers: np.ndarray, category: np.ndarray) -> list[Detection]:
    """Object centres and the gripper in every frame of a video of a world with these objects."""
    colours = colour_of(containers, category)
    cams = cameras(bool(containers.any()))
    detections = []
    for frame in range(len(video.rgb)):
        seen = [_points(video.rgb[frame, k], video.depth[frame, k], cams[k]) for k in (0, 1)]
        labels = np.concatenate([lab for lab, _ in seen])
        points = np.concatenate([p for _, p in seen])
        positions = np.full((len(colours), 3), np.nan)
        for i, colour in enumerate(colours):
            mine = points[labels == colour]
            if len(mine) < MIN_POINTS:
                continue
            lo, hi = np.percentile(mine, 1, axis=0), np.percentile(mine, 99, axis=0)
            z = BLOCK / 2 if containers[i] else hi[2] - BLOCK / 2
            positions[i] = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, z]
        grip = points[labels == len(PALETTE)]
        gripper = np.full(3, np.nan)
        if len(grip) >= MIN_POINTS:
            lo, hi = np.percentile(grip, 1, axis=0), np.percentile(grip, 99, axis=0)
            gripper = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] - PALM_TOP])
        detections.append(Detection(positions, gripper))
    return detections


def write_video(path: str | Path, video: Video) -> Path:
    """A video as a directory of PNGs (see the module docstring)."""
    import imageio.v3 as iio

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for k in range(len(video.rgb)):
        iio.imwrite(path / f"rgb_{k:03d}.png", np.concatenate(list(video.rgb[k]), 1), plugin="pillow")
        mm = np.clip(np.round(video.depth[k] * 1000), 0, 65535).astype(np.uint16)
        iio.imwrite(path / f"depth_{k:03d}.png", np.concatenate(list(mm), 1), plugin="pillow")
    return path


def read_video(path: str | Path) -> Video:
    """A video written by `write_video`; a ValueError says what is wrong with it."""
    import imageio.v3 as iio

    path = Path(path)
    rgb_files = sorted(path.glob("rgb_*.png"))
    if not rgb_files:
        raise ValueError(f"demonstration video {path} holds no rgb_NNN.png frames")
    rgbs, depths = [], []
    for f in rgb_files:
        depth_file = f.with_name(f.name.replace("rgb_", "depth_"))
        try:
            rgb, depth = iio.imread(f, plugin="pillow"), iio.imread(depth_file, plugin="pillow")
        except (OSError, ValueError) as e:
            raise ValueError(
                f"cannot read video frame {f.name} or its depth map ({' '.join(str(e).split())})"
            ) from None
        w = rgb.shape[1] // 2 if rgb.ndim == 3 else 0
        if rgb.ndim != 3 or rgb.shape[2] < 3 or depth.shape != rgb.shape[:2] or w < 8:
            raise ValueError(f"video frame {f.name} is not two RGB views with a depth map of the same size")
        rgbs.append(np.stack([rgb[:, :w, :3], rgb[:, w : 2 * w, :3]]))
        depths.append(np.stack([depth[:, :w], depth[:, w : 2 * w]]).astype(np.float32) / 1000)
    if len({r.shape for r in rgbs}) > 1:
        raise ValueError(f"the frames of video {path} differ in size")
    if len(rgbs) < 2:
        raise ValueError(f"demonstration video {path} needs at least 2 frames")
    return Video(np.stack(rgbs), np.stack(depths))
