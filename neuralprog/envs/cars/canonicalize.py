"""NPI's 3D car canonicalization (Reed & de Freitas 2015, section 4.3): turn the camera to a target pose.

The model sees a rendered image of a car (`neuralprog.envs.cars.render`) and, on a read-only pad, the
target azimuth and elevation; it never sees the current pose. ACT moves the camera 15 degrees up, down,
left (azimuth - 15, wrapping round) or right (azimuth + 15); the elevation stops at 0 and 60 degrees.
Programs as in the paper's Table 2: GOTO calls HGOTO then VGOTO; HGOTO calls LGOTO or RGOTO, one step
at a time, the short way round, until the azimuth is the target's; VGOTO likewise calls UGOTO or
DGOTO; each of those four calls ACT once.

A problem is `{"model": 17, "azimuth": 45, "elevation": 30, "target_azimuth": 0, "target_elevation":
15}` (degrees); its size is the number of camera moves the oracle makes. Random problems start at
azimuth -75..75 and elevation 0..60 (the paper's range) with a target anywhere on the grid, on the
task's car models (seen ones for training, `view("unseen")` for the held-out ones). The observation
is (image index, target azimuth index, target elevation index); the image index selects the current
view in the task's image bank, which the model's CNN reads as pixels.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from neuralprog.envs.base import TaskEnv
from neuralprog.envs.cars.models import N_MODELS, SEEN
from neuralprog.envs.cars.render import AZIMUTHS, ELEVATIONS, SIZES, CarCache, default_cache
from neuralprog.programs import Program, ProgramSet
from neuralprog.tasks import Args, Calls, ObsSpec, Recorder, SingleEnvTask

N_AZ, N_EL = len(AZIMUTHS), len(ELEVATIONS)
POSES = N_AZ * N_EL
STEP = 15
"""Degrees per camera move."""
UP, DOWN, LEFT, RIGHT = range(4)
DIRECTIONS = ("UP", "DOWN", "LEFT", "RIGHT")
START_AZIMUTHS = tuple(a for a in range(N_AZ) if -75 <= AZIMUTHS[a] <= 75)
"""Azimuth indices a random problem starts at (the paper: -75..75 degrees)."""
MAX_SIZE = N_AZ // 2 + N_EL - 1
"""The longest shortest path between two poses: half a turn and the whole elevation range."""
CACHE_VARIABLE = "NEURALPROG_CARS_CACHE"
"""Environment variable naming the image cache directory (default: the user's cache directory)."""


def cache_dir() -> Path:
    """Where the rendered cars are kept: $NEURALPROG_CARS_CACHE, else the user's cache directory."""
    return Path(os.environ[CACHE_VARIABLE]) if os.environ.get(CACHE_VARIABLE) else default_cache()


def horizontal(azimuth: int, target: int) -> int:
    """Signed azimuth moves the oracle makes: the short way round, right (+) on a half turn."""
    d = (target - azimuth) % N_AZ
    return d - N_AZ if d > N_AZ // 2 else d


def distance(azimuth: int, elevation: int, target_azimuth: int, target_elevation: int) -> int:
    """Camera moves from one pose to another (indices), as the oracle makes them."""
    return abs(horizontal(azimuth, target_azimuth)) + abs(target_elevation - elevation)


@cache
def _starts_by_size(target: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
    """(n, 4) start and target pose indices (az, el, target az, target el) per number of moves, to
    any target on the grid or to the one `target` (indices)."""
    targets = [target] if target else [(ta, te) for ta in range(N_AZ) for te in range(N_EL)]
    combos = [(a, e, ta, te) for a in START_AZIMUTHS for e in range(N_EL) for ta, te in targets]
    by_size: dict[int, list] = {}
    for combo in combos:
        by_size.setdefault(distance(*combo), []).append(combo)
    return {size: np.asarray(c, dtype=np.int64) for size, c in by_size.items()}


def _angle(problem: dict, key: str, grid: tuple[int, ...]) -> int:
    value = problem.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"cars {key!r} must be an integer number of degrees, got {value!r}")
    if key.endswith("azimuth") and value == 180:
        value = -180  # the same camera
    if value not in grid:
        raise ValueError(
            f"cars {key} {value} is not on the pose grid ({grid[0]}..{grid[-1]} degrees in steps of {STEP})"
        )
    return grid.index(value)


class CarPoses:
    """A batch of cameras, each on one car model, with its target pose (every value an index)."""

    def __init__(self, problems: list[dict]):
        self.batch_size = len(problems)
        self.model = np.asarray([p["model"] for p in problems], dtype=np.int64)  # (B,)
        self.azimuth = np.asarray([AZIMUTHS.index(p["azimuth"]) for p in problems], dtype=np.int64)
        self.elevation = np.asarray([ELEVATIONS.index(p["elevation"]) for p in problems], dtype=np.int64)
        self.target = np.asarray(
            [
                (AZIMUTHS.index(p["target_azimuth"]), ELEVATIONS.index(p["target_elevation"]))
                for p in problems
            ],
            dtype=np.int64,
        ).reshape(-1, 2)  # (B, 2)

    def image(self) -> np.ndarray:
        """(B,) the index of each camera's current view in the image bank."""
        return (self.model * N_AZ + self.azimuth) * N_EL + self.elevation

    def observe(self) -> np.ndarray:
        return np.concatenate([self.image()[:, None], self.target], axis=1)  # (B, 3)

    def act(self, rows: np.ndarray, args: np.ndarray) -> None:
        direction = args[:, 0]
        turn = np.where(direction == LEFT, -1, 0) + np.where(direction == RIGHT, 1, 0)
        self.azimuth[rows] = (self.azimuth[rows] + turn) % N_AZ
        tilt = np.where(direction == UP, 1, 0) - np.where(direction == DOWN, 1, 0)
        self.elevation[rows] = np.clip(self.elevation[rows] + tilt, 0, N_EL - 1)

    def pose(self, row: int) -> dict[str, int]:
        return {"azimuth": AZIMUTHS[self.azimuth[row]], "elevation": ELEVATIONS[self.elevation[row]]}

    def outputs(self) -> list[Any]:
        return [self.pose(i) for i in range(self.batch_size)]

    def render(self, row: int) -> str:
        target_az, target_el = self.target[row]
        pose = self.pose(row)
        return (
            f"car {self.model[row]}: camera at azimuth {pose['azimuth']:>4}, "
            f"elevation {pose['elevation']:>2}; target azimuth {AZIMUTHS[target_az]:>4}, "
            f"elevation {ELEVATIONS[target_el]:>2}"
        )


def car_programs() -> ProgramSet:
    return ProgramSet(
        (
            Program("ACT", primitive=True, doc="move the camera 15 degrees up, down, left or right"),
            Program("GOTO", calls=("HGOTO", "VGOTO"), doc="turn the camera to the target pose"),
            Program("HGOTO", calls=("LGOTO", "RGOTO"), doc="turn to the target azimuth, the short way"),
            Program("LGOTO", calls=("ACT",), doc="one step left (azimuth - 15)"),
            Program("RGOTO", calls=("ACT",), doc="one step right (azimuth + 15)"),
            Program("VGOTO", calls=("UGOTO", "DGOTO"), doc="tilt to the target elevation"),
            Program("UGOTO", calls=("ACT",), doc="one step up (elevation + 15)"),
            Program("DGOTO", calls=("ACT",), doc="one step down (elevation - 15)"),
        )
    )


def _pose(rec: Recorder) -> tuple[int, int, int, int]:
    """The oracle reads the pose the model does not see: (az, el, target az, target el) indices."""
    image, target_az, target_el = (int(v) for v in rec.obs()[:3])
    return (image // N_EL) % N_AZ, image % N_EL, target_az, target_el


def _goto(rec: Recorder, args: Args) -> Calls:
    yield "HGOTO"
    yield "VGOTO"


def _hgoto(rec: Recorder, args: Args) -> Calls:
    while (turn := horizontal(*_pose(rec)[::2])) != 0:
        yield "RGOTO" if turn > 0 else "LGOTO"


def _vgoto(rec: Recorder, args: Args) -> Calls:
    while (tilt := (pose := _pose(rec))[3] - pose[1]) != 0:
        yield "UGOTO" if tilt > 0 else "DGOTO"


def _move(direction: int):
    def move(rec: Recorder, args: Args) -> Calls:
        yield "ACT", (direction, 0, 0)

    return move


class CarsTask(SingleEnvTask):
    """Canonicalization of one image size over a set of car models (see the module docstring)."""

    env_id = "neuralprog/Canonicalize-v0"
    root = "GOTO"
    obs_names: tuple[str, ...] = ("IMAGE", "TARGET_AZ", "TARGET_EL")
    problem_example = (
        '{"model": 17, "azimuth": 45, "elevation": 30, "target_azimuth": 0, "target_elevation": 15}'
    )

    def __init__(
        self,
        name: str,
        size: int = 64,
        n_models: int = N_MODELS,
        seen: int = SEEN,
        target: tuple[int, int] | None = None,
    ):
        """`target`: (azimuth, elevation) in degrees that every random problem turns to (the paper's
        canonical view is (0, 15)); None draws targets anywhere on the grid."""
        if size not in SIZES:
            raise ValueError(f"image size {size} is not supported; use one of {', '.join(map(str, SIZES))}")
        if not 0 < seen < n_models <= N_MODELS:
            raise ValueError(f"need 0 < seen < n_models <= {N_MODELS}, got seen={seen}, n_models={n_models}")
        if target is not None and (target[0] not in AZIMUTHS or target[1] not in ELEVATIONS):
            raise ValueError(f"the target pose {target} is not on the pose grid")
        self.name = name
        self.target = None if target is None else (AZIMUTHS.index(target[0]), ELEVATIONS.index(target[1]))
        """The fixed target pose of random problems (indices), or None."""
        self.image_size = size
        self.n_models = n_models
        self.seen = seen
        self.models = tuple(range(seen))
        """The car models random problems are drawn from."""
        self.programs = car_programs()
        self.obs_sizes = (n_models * POSES, N_AZ, N_EL)
        self.oracle = {
            "GOTO": _goto,
            "HGOTO": _hgoto,
            "VGOTO": _vgoto,
            "LGOTO": _move(LEFT),
            "RGOTO": _move(RIGHT),
            "UGOTO": _move(UP),
            "DGOTO": _move(DOWN),
        }
        self._bank: np.ndarray | None = None

    @property
    def obs_specs(self) -> tuple[ObsSpec, ...]:
        return (ObsSpec(self.obs_names, self.obs_sizes, image=self.image_size),)

    def view(self, split: str) -> CarsTask:
        """The same task drawing random problems from the seen models, the unseen ones or all."""
        ranges = {
            "seen": range(self.seen),
            "unseen": range(self.seen, self.n_models),
            "all": range(self.n_models),
        }
        if split not in ranges:
            raise ValueError(f"cars splits are seen, unseen and all, not {split!r}")
        view = copy.copy(self)
        view.models = tuple(ranges[split])
        return view

    def parse(self, problem: Any) -> dict:
        if not isinstance(problem, dict):
            raise ValueError(f"a cars problem is an object like {self.problem_example}, got {problem!r}")
        model = problem.get("model")
        if not isinstance(model, int) or isinstance(model, bool) or not 0 <= model < self.n_models:
            raise ValueError(f"cars 'model' must be a car model 0..{self.n_models - 1}, got {model!r}")
        poses = {
            key: _angle(problem, key, AZIMUTHS if key.endswith("azimuth") else ELEVATIONS)
            for key in ("azimuth", "elevation", "target_azimuth", "target_elevation")
        }
        grid = {k: (AZIMUTHS if k.endswith("azimuth") else ELEVATIONS)[i] for k, i in poses.items()}
        return {**problem, "model": model, **grid}

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        by_size = _starts_by_size(self.target)
        if size not in by_size:
            raise ValueError(f"a {self.name} trajectory takes 0..{max(by_size)} camera moves, not {size}")
        combos = by_size[size]
        az, el, target_az, target_el = combos[int(rng.integers(len(combos)))].tolist()
        return {
            "model": int(self.models[int(rng.integers(len(self.models)))]),
            "azimuth": AZIMUTHS[az],
            "elevation": ELEVATIONS[el],
            "target_azimuth": AZIMUTHS[target_az],
            "target_elevation": ELEVATIONS[target_el],
        }

    def size(self, problem: dict) -> int:
        return distance(
            AZIMUTHS.index(problem["azimuth"]),
            ELEVATIONS.index(problem["elevation"]),
            AZIMUTHS.index(problem["target_azimuth"]),
            ELEVATIONS.index(problem["target_elevation"]),
        )

    def machine(self, problems: list[dict]) -> CarPoses:
        return CarPoses(problems)

    def expected(self, problem: dict) -> dict[str, int]:
        return {"azimuth": problem["target_azimuth"], "elevation": problem["target_elevation"]}

    def step_budget(self, problem: dict) -> int:
        # The oracle takes 5 + 3 steps per move; a model may stray and come back.
        return 40 + 6 * self.size(problem)

    def depth_budget(self, problem: dict) -> int:
        return 4

    def describe_action(self, args: tuple[int, ...]) -> str:
        return f"CAMERA {DIRECTIONS[args[0]]}" if args[0] < len(DIRECTIONS) else f"NOOP {args}"

    def verification_problems(self) -> list[dict]:
        raise ValueError("canonicalization reads images: no finite set of situations covers unseen pixels")

    def image_bank(self, env: int = 0) -> np.ndarray:
        """(n_models * 120, size, size, 3) uint8: every view, indexed as `CarPoses.image`; rendered on
        first use into the cache directory (`cache_dir`), with progress on stderr."""
        if self._bank is None:
            cache = CarCache(cache_dir(), self.image_size, self.n_models)
            started = time.perf_counter()

            def progress(done: int, total: int) -> None:
                eta = (time.perf_counter() - started) / done * (total - done)
                end = "\n" if done == total else ""
                print(
                    f"\rrendering car models into {cache.root}: {done}/{total}, ETA {eta:.0f}s",
                    end=end,
                    file=sys.stderr,
                    flush=True,
                )

            images = cache.load(progress)
            self._bank = images.reshape(-1, *images.shape[-3:])
        return self._bank

    def picture(self, machine: CarPoses, row: int, title: str = "") -> np.ndarray:
        """(H, W, 3) uint8: the current view of one camera, at least 128 pixels wide, with the title,
        the camera's pose and the target pose printed under it (for people: the model never sees the
        pose)."""
        from PIL import Image, ImageDraw

        view = Image.fromarray(self.image_bank()[int(machine.image()[row])])
        scale = max(1, 128 // self.image_size)
        view = view.resize((self.image_size * scale,) * 2, Image.Resampling.NEAREST)
        canvas = Image.new("RGB", (view.width, view.height + 40), "white")
        canvas.paste(view)
        pose = machine.pose(row)
        target = {
            "azimuth": AZIMUTHS[machine.target[row, 0]],
            "elevation": ELEVATIONS[machine.target[row, 1]],
        }
        draw = ImageDraw.Draw(canvas)
        draw.text((3, view.height + 1), title, fill="black")
        draw.text((3, view.height + 13), f"pose   az {pose['azimuth']} el {pose['elevation']}", fill="black")
        colour = "darkgreen" if pose == target else "firebrick"
        draw.text(
            (3, view.height + 25), f"target az {target['azimuth']} el {target['elevation']}", fill=colour
        )
        return np.asarray(canvas)


class CanonicalizeEnv(TaskEnv):
    """NPI's 3D car canonicalization.

    ## Description
    A camera looks at a rendered car; turn it, 15 degrees at a time, to the target azimuth and elevation.

    ## Action Space
    `Discrete(4)`: move the camera up, down, left (azimuth - 15) or right (azimuth + 15).

    ## Observation Space
    `Dict(image=Box(0, 255, (size, size, 3), uint8), target=MultiDiscrete([24, 5]))`: the current view
    and the target pose's azimuth index (-180..165 degrees) and elevation index (0..60 degrees).

    ## Starting State
    The problem from `reset(options={"model": 17, "azimuth": 45, "elevation": 30, "target_azimuth": 0,
    "target_elevation": 15})`, or a random one on a seen car of `options={"steps": n}` camera moves.

    ## Reward
    Always 0: NPI learns from traces. `info["correct"]` says whether the camera is at the target pose.

    ## Episode End
    Never terminates by itself; truncated after `max_steps` actions (default: the task's step budget).

    ## Arguments
    `steps` (moves of random problems), `size` (image side: 32, 64 or 128), `max_steps`, `render_mode`
    ("rgb_array" or "ansi"), `task` (a `CarsTask` of your own, instead of the one of that size).

    ## Version History
    v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    size_option = "steps"
    task: CarsTask
    _machine: CarPoses | None

    def __init__(
        self,
        steps: int = 4,
        size: int = 64,
        max_steps: int | None = None,
        render_mode: str | None = None,
        task: CarsTask | None = None,
    ):
        if task is None:
            if size not in CARS_BY_SIZE:
                raise ValueError(
                    f"image size {size} is not supported; use one of {', '.join(map(str, SIZES))}"
                )
            task = CARS_BY_SIZE[size]
        self.task = task
        size = task.image_size
        super().__init__(steps, max_steps, None if render_mode == "rgb_array" else render_mode)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Dict(
            image=gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            target=gym.spaces.MultiDiscrete([N_AZ, N_EL]),
        )
        self.action_space = gym.spaces.Discrete(4)

    def step(self, action):
        return super().step(np.asarray([int(action), 0, 0]))

    def render(self):
        if self.render_mode == "rgb_array" and self._machine is not None:
            return self.task.image_bank()[int(self._machine.image()[0])]
        return super().render()

    def _observation(self):
        assert self._machine is not None
        image, target_az, target_el = self._machine.observe()[0]
        return {"image": self.task.image_bank()[image], "target": np.asarray([target_az, target_el])}


CARS = CarsTask("cars", 64)
CARS_SMALL = CarsTask("cars-32", 32)
CARS_LARGE = CarsTask("cars-128", 128)
"""The paper's image size."""
CARS_BY_SIZE = {t.image_size: t for t in (CARS_SMALL, CARS, CARS_LARGE)}
