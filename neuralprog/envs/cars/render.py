"""Rendering the car models at every pose of the canonicalization grid, cached on disk.

Poses: 24 azimuths (-180..165 degrees, 15 degree steps; azimuth 0 looks at the car's front, positive
azimuths turn the camera towards the car's left) x 5 elevations (0..60 degrees). Images are RGB, 64 x 64
by default (128 x 128, the paper's size, as an option), rendered by MuJoCo offscreen; the same model and
pose give the same pixels.

The cache is a directory (default: the user's cache directory, `~/.cache/neuralprog/cars`, or
`$XDG_CACHE_HOME`) holding one `.npy` file per model and size and an index of their SHA-256 digests. A
file that is missing, of the wrong shape or whose digest differs (a damaged or partial cache) is
rendered again; every file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuralprog.envs.cars.models import N_MODELS, car_models, scene_xml
from neuralprog.envs.mujoco_gl import import_mujoco, renderer

AZIMUTHS = tuple(range(-180, 180, 15))
ELEVATIONS = tuple(range(0, 75, 15))
SIZES = (32, 64, 128)
"""Image sizes the cache renders (32 for quick tests)."""
DISTANCE = 8.0
"""Camera distance from the car's middle (m)."""
VERSION = 2
"""Bumped when the models or the renderer change, so that old caches are rendered again."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neuralprog" / "cars"


def render_model(index: int, size: int = 64) -> np.ndarray:
    """(24, 5, size, size, 3) uint8: car model `index` at every azimuth and elevation."""
    if not 0 <= index < N_MODELS:
        raise ValueError(f"car model {index} out of range 0..{N_MODELS - 1}")
    if size not in SIZES:
        raise ValueError(f"image size {size} is not supported; use one of {', '.join(map(str, SIZES))}")
    mujoco = import_mujoco()
    model = mujoco.MjModel.from_xml_string(scene_xml(car_models()[index]))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    view = renderer(model, size, size)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.lookat[:] = [0.0, 0.0, 0.9]
    camera.distance = DISTANCE
    images = np.zeros((len(AZIMUTHS), len(ELEVATIONS), size, size, 3), dtype=np.uint8)
    for a, azimuth in enumerate(AZIMUTHS):
        for e, elevation in enumerate(ELEVATIONS):
            camera.azimuth = 180.0 + azimuth  # MuJoCo's azimuth is the direction the camera looks along
            camera.elevation = -float(elevation)
            view.update_scene(data, camera=camera)
            images[a, e] = view.render()
    view.close()
    return images


class CarCache:
    """The rendered poses of every car model at one image size, on disk (see the module docstring)."""

    def __init__(self, root: str | Path | None = None, size: int = 64, n_models: int = N_MODELS):
        if size not in SIZES:
            raise ValueError(f"image size {size} is not supported; use one of {', '.join(map(str, SIZES))}")
        self.root = Path(root) if root is not None else default_cache()
        self.size = size
        self.n_models = n_models
        """Models 0..n_models-1 are rendered and loaded (fewer than all for quick tests)."""
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"car cache {self.root} is a file, not a directory")

    def _file(self, index: int) -> Path:
        return self.root / f"v{VERSION}-{self.size}px-car{index:03d}.npy"

    def _index_path(self) -> Path:
        return self.root / f"v{VERSION}-{self.size}px-index.json"

    def _digests(self) -> dict[str, str]:
        try:
            digests = json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            return {}
        return digests if isinstance(digests, dict) else {}

    def missing(self) -> list[int]:
        """The models whose file is absent, unreadable or damaged."""
        digests = self._digests()
        bad = []
        for index in range(self.n_models):
            path = self._file(index)
            try:
                ok = digests.get(path.name) == hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                ok = False
            if not ok:
                bad.append(index)
        return bad

    def build(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Render what is missing or damaged; returns how many models were rendered."""
        todo = self.missing()
        if not todo:
            return 0
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise ValueError(f"cannot write the car cache {self.root} ({e.strerror or e})") from None
        digests = self._digests()
        for done, index in enumerate(todo, start=1):
            path = self._file(index)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, render_model(index, self.size))
            tmp.replace(path)
            digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            index_tmp = self._index_path().with_name(f".{self._index_path().name}.{os.getpid()}.tmp")
            index_tmp.write_text(json.dumps(digests, indent=0, sort_keys=True))
            index_tmp.replace(self._index_path())
            if progress is not None:
                progress(done, len(todo))
        return len(todo)

    def load(self, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(n_models, 24, 5, size, size, 3) uint8, rendering first what the cache lacks."""
        self.build(progress)
        return np.stack([np.load(self._file(index)) for index in range(self.n_models)])
