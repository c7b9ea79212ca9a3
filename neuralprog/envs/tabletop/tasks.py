"""Block stacking and order fulfillment (Xu et al. 2018): problems, start layouts, task sets and splits,
what the model observes, and what counts as done.

Block stacking: 8 cubes start on a 4 x 4 grid (10 cm cells, +-2 cm jitter); a task is a set of towers,
built in the order listed, each bottom-up: `{"towers": [[0, 3], [5, 1, 2]]}` puts 3 on 0, then 1 on 5 and
2 on 1. Two tasks are the same task when their towers are (the build order aside). The observation is
each block's xyz relative to the gripper and the gripper state (open, holding): 8 x 3 + 2 numbers.

Order fulfillment: objects of 4 categories lie on a 7 x 7 grid; 4 containers stand in a row behind it.
A task maps each category to a container: `{"containers": [2, 0, 3, 1], "objects_per_category": 5}`
sends every category-0 object to container 2, and so on. Each category shows only its nearest
undelivered object (relative to the gripper), so the observation has the same 4 x 3 + 4 x 3 + 2 numbers
however many objects there are; a category with nothing left shows `GONE`. The API's object argument is
a category (0-3: its nearest undelivered object) or a container (4-7).

Every problem carries a `seed`: the trial starts from layout (seed, 0) and its demonstration is the
expert's run of the same task from layout (seed, 1), unless the problem brings its own demonstration.
"""

from __future__ import annotations

import copy
import itertools
import json
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from neuralprog.envs.tabletop.physics import lying_in
from neuralprog.envs.tabletop.video import Video, detect, read_video
from neuralprog.envs.tabletop.world import (
    BLOCK,
    CLEARANCE,
    HOLD_DROP,
    MOVE,
    MOVE_DROP,
    MOVE_GRASP,
    MOVE_RELEASE,
    KinematicWorld,
    Layout,
)
from neuralprog.programs import Program, ProgramSet

N_BLOCKS = 8
N_CATEGORIES = 4
N_CONTAINERS = 4
MAX_PER_CATEGORY = 10
GONE = np.array([0.0, 0.0, 1.0])
"""What a category with no undelivered object shows: a point a metre above the gripper."""
TASK_SET_SIZE = 2000
TRAINING_SIZES = (50, 100, 200, 400, 700, 1000)
"""Training-set sizes of the block-stacking protocol (nested: the first N of the training pool)."""
SEED_LIMIT = 2**31
BACKENDS = ("kinematic", "mujoco")
_Task = TypeVar("_Task", bound="TabletopTask")


def _api_programs(release: bool) -> tuple[Program, ...]:
    last = "MOVE_RELEASE" if release else "MOVE_DROP"
    return (
        Program("MOVE", primitive=True, doc="API: move the gripper above object ARG"),
        Program("MOVE_GRASP", primitive=True, doc="API: reach down and grasp the object below"),
        Program(last, primitive=True, doc="API: lower the held object onto the target and let go"),
    )


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return value


def read_demonstration(value: object, obs_size: int) -> np.ndarray:
    """A demonstration given by the user: a list of frames (each obs_size numbers), or the path of a
    JSON file holding one (a list, or an object with "frames"); a directory is a video (see
    `video.read_video`). A ValueError says what is wrong."""
    if isinstance(value, str):
        path = Path(value)
        try:
            value = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read demonstration file {path} ({e})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"demonstration file {path} is not valid JSON ({e.msg})") from None
        if isinstance(value, dict):
            value = value.get("frames")
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("a demonstration must be a list of at least 2 frames")
    for k, frame in enumerate(value):
        ok = isinstance(frame, list) and len(frame) == obs_size
        if not ok or any(isinstance(v, bool) or not isinstance(v, int | float) for v in frame):
            raise ValueError(f"demonstration frame {k} must be a list of {obs_size} numbers")
    frames = np.asarray(value, dtype=np.float32)
    if not np.isfinite(frames).all():
        raise ValueError("a demonstration holds a number that is not finite")
    return frames


class TabletopTask:
    """What both tabletop tasks share: programs, problem seeds, demonstrations and expert segments.

    A subclass says how a problem's world is laid out, what the model observes, how the expert runs
    one goal (`rounds`) and what the answer is."""

    name: str
    env_id: str
    root: str
    middle: str
    """The program the root calls once per goal (PICK_PLACE, PICK_RELEASE)."""
    second: str
    """The middle program's second call (PLACE, RELEASE)."""
    last_api: int
    """MOVE_DROP or MOVE_RELEASE."""
    obs_size = 26
    n_objects = 8
    """Values the API's object argument takes."""
    problem_example: str
    noise: float = 0.0
    """Placement noise of this task's worlds: the standard deviation (m) of a drop's xy jitter."""
    backend: str = "kinematic"
    """What simulates this task's worlds: kinematic (exact and instant) or mujoco (physics)."""
    video: bool = False
    """Read demonstrations off rendered video with the colour detector (mujoco backend only)."""

    def using(self: _Task, backend: str = "kinematic", video: bool = False) -> _Task:
        """The same task in another backend, optionally with its demonstrations given as video."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; use {' or '.join(BACKENDS)}")
        if video and backend != "mujoco":
            raise ValueError("video demonstrations are rendered in physics: they need the mujoco backend")
        task = copy.copy(self)
        task.backend, task.video = backend, video
        return task

    @cached_property
    def programs(self) -> ProgramSet:
        apis = _api_programs(self.last_api == MOVE_RELEASE)
        move, grasp, let_go = (p.name for p in apis)
        first = "PICK"
        programs = (
            Program(
                self.root, calls=(self.middle, move, grasp, let_go), doc="carry out the whole demonstration"
            ),
            Program(self.middle, calls=(first, self.second), doc="one goal: pick an object, put it down"),
            Program(first, calls=(move, grasp), doc="move above an object and grasp it"),
            Program(self.second, calls=(move, let_go), doc="move above a target and let the held object go"),
            *apis,
        )
        return ProgramSet(programs, arg_size=self.n_objects, n_args=1)

    def takes_object(self, program: str) -> bool:
        """Whether a program's calls carry an object argument (only the API's move does)."""
        return program == "MOVE"

    def relocate(self, obs: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
        """Observations (N, F) of the first step of sub-program calls, each moved with probability
        `chance` to a world where the gripper hovers above a random shown object instead (what it holds
        travels with it; a category with nothing left stays GONE). A call's first step must not depend
        on where its caller left the gripper; trained only on where the expert leaves it, a sub-program
        can learn otherwise (an order-fulfillment PICK_RELEASE that starts above its own container would
        return at once)."""
        n = len(obs)
        if n == 0:
            return obs
        obs = obs.copy()
        slots = obs[:, : 3 * self.n_objects].reshape(n, self.n_objects, 3)
        gone = np.all(np.abs(slots - GONE) < 1e-6, axis=-1)
        held = np.all(np.abs(slots - [0, 0, -HOLD_DROP]) < 1e-6, axis=-1) & (obs[:, -1:] > 0.5)
        choices = ~gone & ~held
        move = (rng.random(n) < chance) & choices.any(1)
        pick = np.argmax(np.where(choices, rng.random(choices.shape), -1.0), axis=1)  # a random shown object
        lift = np.where(held.any(1), HOLD_DROP + BLOCK / 2, 0.0)
        shift = slots[np.arange(n), pick] + np.stack(
            [np.zeros(n), np.zeros(n), CLEARANCE + BLOCK / 2 + lift], 1
        )
        moved = np.where(gone[..., None] | held[..., None], slots, slots - shift[:, None])
        slots[move] = moved[move]
        obs[:, : 3 * self.n_objects] = slots.reshape(n, -1)
        return obs

    def phantoms(self, obs: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
        """Training observations (..., F) of programs that only call the API, with GONE categories
        shown as phantom objects (see OrderFulfillment.phantoms); the same observations by default."""
        return obs

    def api_of(self, program: str) -> int:
        return {"MOVE": MOVE, "MOVE_GRASP": MOVE_GRASP, "MOVE_DROP": MOVE_DROP, "MOVE_RELEASE": MOVE_RELEASE}[
            program
        ]

    # -- problems ---------------------------------------------------------------------------------

    def _common(self, problem: dict, parsed: dict) -> dict:
        parsed["seed"] = _int(problem.get("seed", 0), "seed")
        if not 0 <= parsed["seed"] < SEED_LIMIT:
            raise ValueError(f"seed must be in 0..{SEED_LIMIT - 1}, got {parsed['seed']}")
        if "demonstration" in problem:
            given = problem["demonstration"]
            if isinstance(given, str) and Path(given).is_dir():  # a video: read by the colour detector
                parsed["demonstration"] = self.video_frames(parsed, read_video(given))
            elif isinstance(given, str) and Path(given).suffix.lower() in (".mp4", ".avi", ".gif", ".webm"):
                raise ValueError(
                    f"{given}: a video demonstration is a directory of rgb_NNN.png and depth_NNN.png frames "
                    "(the detector needs depth, which a compressed video does not carry)"
                )
            else:
                parsed["demonstration"] = read_demonstration(given, self.obs_size)
        return parsed

    def step_budget(self, problem: dict) -> int:
        """Model steps after which a run fails: twice the expert's, plus a margin."""
        return 2 * (10 * self.goals(problem) + 1) + 20

    def depth_budget(self, problem: dict) -> int:
        return 5

    def goals(self, problem: dict) -> int:
        raise NotImplementedError

    def parse(self, problem: Any) -> dict:
        """Validate a problem and return its canonical form; a ValueError says what is wrong."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """A random problem of a size (goals, or objects per category)."""
        raise NotImplementedError

    def size(self, problem: dict) -> int:
        raise NotImplementedError

    # -- worlds and observations -------------------------------------------------------------------

    def layout(self, problem: dict, which: int) -> Layout:
        raise NotImplementedError

    def world(self, problems: list[dict], which: int = 0, noise: float | None = None) -> KinematicWorld:
        """The worlds of a batch of problems: their trials' starts (which=0) or their demonstrations'
        (which=1), with the task's placement noise unless `noise` says otherwise. Demonstrations are
        always made without noise."""
        layouts = [self.layout(p, which) for p in problems]
        noise = (self.noise if which == 0 else 0.0) if noise is None else noise
        seeds = [p["seed"] for p in problems]
        if self.backend == "mujoco":
            from neuralprog.envs.tabletop.physics import MujocoWorld  # MuJoCo is an optional dependency

            return MujocoWorld(layouts, noise=noise, seeds=seeds)
        return KinematicWorld(layouts, noise=noise, seeds=seeds)

    def observe(self, world: KinematicWorld) -> np.ndarray:
        """(B, 26) float32: each task object's xyz relative to the gripper, then one-hot (open, holding)."""
        rel = self.visible(world) - world.gripper[:, None, :]
        holding = (world.held >= 0).astype(np.float64)
        return np.concatenate([rel.reshape(len(rel), -1), np.stack([1 - holding, holding], 1)], 1).astype(
            np.float32
        )

    def visible(self, world: KinematicWorld) -> np.ndarray:
        """(B, n_objects, 3): the positions of the objects the observation shows."""
        raise NotImplementedError

    def video_frames(self, problem: dict, video: Video) -> np.ndarray:
        """(L, obs_size) demonstration frames read off a video of the problem's demonstration by the
        colour detector: the observation computed from detected positions. An object not seen in a
        frame keeps where it was last seen; one over a container is delivered; a block hanging just
        below the gripper is held."""
        layout = self.layout(problem, 1)  # for which objects there are, not where
        detections = detect(video, layout.containers, layout.category)
        unseen = np.flatnonzero(np.isnan(detections[0].positions[:, 0]))
        if len(unseen) or np.isnan(detections[0].gripper[0]):
            what = f"objects {unseen.tolist()}" if len(unseen) else "the gripper"
            raise ValueError(f"the demonstration video's first frame does not show {what}")
        world = KinematicWorld([layout])
        frames = []
        last, grip = detections[0].positions.copy(), detections[0].gripper
        for det in detections:
            seen = ~np.isnan(det.positions[:, 0])
            last[seen] = det.positions[seen]
            if not np.isnan(det.gripper[0]):
                grip = det.gripper
            world.positions[0, : len(last)] = last
            world.gripper[0] = grip
            hang = np.abs(last - (grip - [0, 0, HOLD_DROP])).max(1)
            hang[layout.containers] = np.inf
            world.held[0] = int(hang.argmin()) if hang.min() < BLOCK / 3 else -1
            world.inside[0] = lying_in(last, layout.containers, int(world.held[0]))
            frames.append(self.observe(world)[0])
        return np.stack(frames)

    def resolve(self, world: KinematicWorld, rows: np.ndarray, args: np.ndarray) -> np.ndarray:
        """World object indices of the API's object arguments."""
        return args

    # -- the expert --------------------------------------------------------------------------------

    def rounds(
        self, world: KinematicWorld, problems: list[dict], done: np.ndarray
    ) -> list[tuple[int, int, int] | None]:
        """The next goal of each world, as (src argument, dst argument, demonstration segment), or None
        when it has none left."""
        raise NotImplementedError

    def expected(self, problem: dict) -> Any:
        raise NotImplementedError

    def outputs(self, world: KinematicWorld, problems: list[dict]) -> list[Any]:
        raise NotImplementedError

    def judge(self, world: KinematicWorld, row: int, api: int, problem: dict) -> str | None:
        """After an API call: "wrong_pick" or "wrong_place" when it departs from the task, else None."""
        raise NotImplementedError


class BlockStacking(TabletopTask):
    """Stack 8 cubes into the towers a demonstration shows (see the module docstring)."""

    name = "block-stacking"
    env_id = "neuralprog/BlockStacking-v0"
    root, middle, second, last_api = "STACK", "PICK_PLACE", "PLACE", MOVE_DROP
    problem_example = '{"towers": [[0, 3], [5, 1, 2]], "seed": 7}'

    def __init__(self, sample_split: str = "unseen", train_tasks: int = 1000, noise: float = 0.0):
        self.sample_split = sample_split
        """The split `sample` draws tasks from."""
        self.train_tasks = train_tasks
        """Training tasks of the run whose splits these are."""
        if not 0 <= noise < BLOCK:
            raise ValueError(f"placement noise must be in [0, {BLOCK}) m, got {noise}")
        self.noise = noise
        self._splits: dict[tuple[str, int], list] = {}

    def view(
        self, split: str | None = None, train_tasks: int | None = None, noise: float | None = None
    ) -> BlockStacking:
        """The same task, drawing random problems from another split, or with placement noise."""
        split = self.sample_split if split is None else split
        train_tasks = self.train_tasks if train_tasks is None else train_tasks
        self.split(split, train_tasks)  # a bad split or size fails here
        view = BlockStacking(split, train_tasks, self.noise if noise is None else noise)
        return view.using(self.backend, self.video)

    def parse(self, problem: Any) -> dict:
        if not isinstance(problem, dict) or "towers" not in problem:
            raise ValueError(
                f"a block-stacking problem is an object with 'towers', e.g. {self.problem_example}"
            )
        unknown = set(problem) - {"towers", "seed", "demonstration", "output", "halted", "correct", "steps"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)} in a block-stacking problem")
        towers = problem["towers"]
        if not isinstance(towers, list) or not towers:
            raise ValueError("towers must be a non-empty list of towers (lists of block indices, bottom-up)")
        seen: set[int] = set()
        for tower in towers:
            if not isinstance(tower, list) or len(tower) < 2:
                raise ValueError(f"every tower needs at least 2 blocks, got {tower!r}")
            for b in tower:
                if not 0 <= _int(b, "a block index") < N_BLOCKS:
                    raise ValueError(f"block {b} out of range 0..{N_BLOCKS - 1}")
                if b in seen:
                    raise ValueError(f"block {b} appears twice in the towers")
                seen.add(b)
        return self._common(problem, {"towers": [list(t) for t in towers]})

    def size(self, problem: dict) -> int:
        return self.goals(problem)

    def goals(self, problem: dict) -> int:
        return sum(len(t) - 1 for t in problem["towers"])

    def layout(self, problem: dict, which: int) -> Layout:
        rng = np.random.default_rng([problem["seed"], which])
        cells = rng.choice(16, N_BLOCKS, replace=False)
        xy = np.stack([cells % 4, cells // 4], 1) * 0.1 + rng.uniform(-0.02, 0.02, (N_BLOCKS, 2))
        positions = np.concatenate([xy, np.full((N_BLOCKS, 1), BLOCK / 2)], 1)
        return Layout(positions, np.zeros(N_BLOCKS, dtype=bool), np.full(N_BLOCKS, -1))

    def visible(self, world: KinematicWorld) -> np.ndarray:
        return world.positions[:, :N_BLOCKS]

    def rounds(self, world, problems, done):
        goals = [[(t[k + 1], t[k]) for t in p["towers"] for k in range(len(t) - 1)] for p in problems]
        return [(*g[i], i) if i < len(g) else None for g, i in zip(goals, done.tolist(), strict=True)]

    def expected(self, problem: dict) -> list[list[int]]:
        return sorted(problem["towers"])

    def _on_goal(self, world: KinematicWorld, row: int, src: int, dst: int) -> bool:
        chain = world.above(row, dst)
        return bool(chain) and chain[0] == src

    def judge(self, world, row, api, problem):
        """A wrong pick grasps another block than the first goal (in the demonstration's order) not yet
        met; a wrong place drops a block anywhere but on its goal's target."""
        goals = [(t[k + 1], t[k]) for t in problem["towers"] for k in range(len(t) - 1)]
        if api == MOVE_GRASP:
            todo = [src for src, dst in goals if not self._on_goal(world, row, src, dst)]
            return "wrong_pick" if todo and int(world.held[row]) != todo[0] else None
        if api == MOVE_DROP:
            block = int(world.last_released[row])
            dst = dict(goals).get(block)
            return None if dst is not None and self._on_goal(world, row, block, dst) else "wrong_place"
        return None

    def outputs(self, world, problems):
        return [world.towers(row, N_BLOCKS) for row in range(world.batch_size)]

    # -- the task set and its splits ---------------------------------------------------------------

    @cached_property
    def task_set(self) -> list[list[list[int]]]:
        """2,000 distinct tasks (towers in build order), always the same: 1-4 towers of 2-4 blocks."""
        rng = np.random.default_rng(2018)
        tasks: list[list[list[int]]] = []
        keys: set[tuple] = set()
        while len(tasks) < TASK_SET_SIZE:
            n_towers = int(rng.choice(4, p=[0.05, 0.55, 0.37, 0.03])) + 1
            heights = rng.integers(2, 5, n_towers)
            if heights.sum() > N_BLOCKS:
                continue
            blocks = rng.permutation(N_BLOCKS).tolist()
            towers, k = [], 0
            for h in heights:
                towers.append(blocks[k : k + h])
                k += h
            key = tuple(sorted(map(tuple, towers)))
            if key not in keys:
                keys.add(key)
                tasks.append(towers)
        return tasks

    def split(self, name: str, train_tasks: int = 1000) -> list[list[list[int]]]:
        """Tasks of a split: 'train' (the first train_tasks of the training pool; nested), 'unseen' (the
        1,000 held-out tasks) or 'permuted' (the training tasks of 2 or more towers, the towers built in
        another order)."""
        if not 1 <= train_tasks <= TASK_SET_SIZE // 2:
            raise ValueError(f"train_tasks must be in 1..{TASK_SET_SIZE // 2}, got {train_tasks}")
        if (name, train_tasks) not in self._splits:
            self._splits[name, train_tasks] = self._split(name, train_tasks)
        return self._splits[name, train_tasks]

    def _split(self, name: str, train_tasks: int) -> list[list[list[int]]]:
        pool = self.task_set
        if name in ("train", "seen"):
            return pool[:train_tasks]
        if name == "unseen":
            return pool[TASK_SET_SIZE // 2 :]
        if name == "permuted":
            rng = np.random.default_rng(7)
            permuted = []
            for towers in pool[:train_tasks]:
                orders = [
                    o
                    for o in itertools.permutations(range(len(towers)))
                    if list(o) != list(range(len(towers)))
                ]
                if orders:
                    order = orders[int(rng.integers(len(orders)))]
                    permuted.append([towers[i] for i in order])
            return permuted
        raise ValueError(f"unknown split {name!r}; use seen, unseen or permuted")

    def trials(self, tasks: list[list[list[int]]], per_task: int, seed: int) -> list[dict]:
        """per_task trials of every task (problems with their own start seeds)."""
        rng = np.random.default_rng([seed, 11])
        seeds = rng.integers(0, SEED_LIMIT, (len(tasks), per_task))
        return [{"towers": t, "seed": int(s)} for t, row in zip(tasks, seeds, strict=True) for s in row]

    def test_trials(self, split: str, train_tasks: int, n: int, seed: int = 0) -> list[dict]:
        """n test trials of a split: tasks drawn evenly (each once before any twice), new starts."""
        tasks = self.split(split, train_tasks)
        rng = np.random.default_rng([seed, 13])
        order = np.concatenate([rng.permutation(len(tasks)) for _ in range(n // len(tasks) + 1)])[:n]
        return [{"towers": tasks[i], "seed": int(rng.integers(SEED_LIMIT))} for i in order]

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """A random task of the sampled split with `size` goals (1-6), from a random start."""
        tasks = [
            t for t in self.split(self.sample_split, self.train_tasks) if sum(len(x) - 1 for x in t) == size
        ]
        if not tasks:
            raise ValueError(
                f"no {self.sample_split} block-stacking task has {size} goals (sizes are goals, 1-6)"
            )
        return {"towers": tasks[int(rng.integers(len(tasks)))], "seed": int(rng.integers(SEED_LIMIT))}


class OrderFulfillment(TabletopTask):
    """Carry every object into the container its category maps to (see the module docstring)."""

    name = "order-fulfillment"
    env_id = "neuralprog/OrderFulfillment-v0"
    root, middle, second, last_api = "SORTING", "PICK_RELEASE", "RELEASE", MOVE_RELEASE
    problem_example = '{"containers": [2, 0, 3, 1], "objects_per_category": 5, "seed": 7}'

    TRAIN_MAPS = [[(c + k) % N_CONTAINERS for c in range(N_CATEGORIES)] for k in range(N_CONTAINERS)]
    """The 4 training maps: together they pair every category with every container once."""

    def parse(self, problem: Any) -> dict:
        if not isinstance(problem, dict) or "containers" not in problem:
            raise ValueError(
                f"an order-fulfillment problem is an object with 'containers', e.g. {self.problem_example}"
            )
        unknown = set(problem) - {
            "containers",
            "objects_per_category",
            "seed",
            "demonstration",
            "output",
            "halted",
            "correct",
            "steps",
        }
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)} in an order-fulfillment problem")
        mapping = problem["containers"]
        if not isinstance(mapping, list) or len(mapping) != N_CATEGORIES:
            raise ValueError(f"containers must list one container per category ({N_CATEGORIES} integers)")
        for c in mapping:
            if not 0 <= _int(c, "a container index") < N_CONTAINERS:
                raise ValueError(f"container {c} out of range 0..{N_CONTAINERS - 1}")
        n = _int(problem.get("objects_per_category", 1), "objects_per_category")
        if not 1 <= n <= MAX_PER_CATEGORY:
            raise ValueError(f"objects_per_category must be in 1..{MAX_PER_CATEGORY}, got {n}")
        return self._common(problem, {"containers": list(mapping), "objects_per_category": n})

    def size(self, problem: dict) -> int:
        return problem["objects_per_category"]

    def goals(self, problem: dict) -> int:
        return N_CATEGORIES * problem["objects_per_category"]

    def layout(self, problem: dict, which: int) -> Layout:
        rng = np.random.default_rng([problem["seed"], which])
        n = N_CATEGORIES * (problem["objects_per_category"] if which == 0 else 1)
        cells = rng.choice(49, n, replace=False)
        xy = np.stack([cells % 7, cells // 7], 1) * 0.1 + rng.uniform(-0.02, 0.02, (n, 2))
        bins = np.stack([np.arange(N_CONTAINERS) * 0.2, np.full(N_CONTAINERS, 0.8)], 1)
        bins += rng.uniform(-0.02, 0.02, bins.shape)
        xy = np.concatenate([xy, bins])
        positions = np.concatenate([xy, np.full((len(xy), 1), BLOCK / 2)], 1)
        containers = np.arange(len(xy)) >= n
        category = np.where(containers, -1, np.arange(len(xy)) % N_CATEGORIES)
        return Layout(positions, containers, category)

    def _nearest(self, world: KinematicWorld) -> np.ndarray:
        """(B, categories): each category's nearest undelivered object, -1 when none is left."""
        dist = np.linalg.norm(world.positions - world.gripper[:, None, :], axis=2)
        nearest = np.full((world.batch_size, N_CATEGORIES), -1)
        for c in range(N_CATEGORIES):
            mine = (world.category == c) & (world.inside < 0)
            d = np.where(mine, dist, np.inf)
            nearest[:, c] = np.where(mine.any(1), d.argmin(1), -1)
        return nearest

    def phantoms(self, obs: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
        """A category with nothing left shows GONE; trained on one object per category, PICK and RELEASE
        would learn to end when their category turns GONE, which never happens while more objects of it
        wait. So in their training observations each GONE category shows, with probability `chance`, a
        phantom object at a random free place on the table instead (placed relative to the gripper,
        which the first container's offset locates to within 2 cm)."""
        if obs.size == 0:
            return obs
        obs = obs.copy()
        slots = obs[..., : 3 * N_CATEGORIES].reshape(*obs.shape[:-1], N_CATEGORIES, 3)
        gone = np.all(np.abs(slots - GONE) < 1e-6, axis=-1) & (rng.random(slots.shape[:-1]) < chance)
        gripper = np.array([0.0, 0.8, BLOCK / 2]) - obs[..., 3 * N_CATEGORIES : 3 * N_CATEGORIES + 3]
        table = np.concatenate(
            [rng.uniform(0, 0.6, (*slots.shape[:-1], 2)), np.full((*slots.shape[:-1], 1), BLOCK / 2)], -1
        )
        slots[gone] = (table - gripper[..., None, :])[gone]
        obs[..., : 3 * N_CATEGORIES] = slots.reshape(*obs.shape[:-1], -1)
        return obs

    def _containers(self, world: KinematicWorld) -> np.ndarray:
        """(B, containers): the world index of each container (the last objects of each layout)."""
        return world.n_objects[:, None] - N_CONTAINERS + np.arange(N_CONTAINERS)

    def visible(self, world: KinematicWorld) -> np.ndarray:
        nearest = self._nearest(world)
        rows = np.arange(world.batch_size)[:, None]
        cats = np.where(
            nearest[..., None] >= 0, world.positions[rows, nearest.clip(0)], world.gripper[:, None] + GONE
        )
        return np.concatenate([cats, world.positions[rows, self._containers(world)]], 1)

    def resolve(self, world, rows, args):
        nearest = self._nearest(world)[rows]
        bins = self._containers(world)[rows]
        is_bin = args >= N_CATEGORIES
        cat = nearest[np.arange(len(rows)), args.clip(0, N_CATEGORIES - 1)]
        return np.where(
            is_bin, bins[np.arange(len(rows)), (args - N_CATEGORIES).clip(0, N_CONTAINERS - 1)], cat
        )

    def rounds(self, world, problems, done):
        """The expert delivers the nearest undelivered object's category first (the observation shows
        which it is), into the container its map names; the demonstration segment is the one that
        moved that category."""
        nearest = self._nearest(world)
        dist = np.linalg.norm(world.positions - world.gripper[:, None, :], axis=2)
        result: list[tuple[int, int, int] | None] = []
        for row, p in enumerate(problems):
            live = [c for c in range(N_CATEGORIES) if nearest[row, c] >= 0]
            if not live:
                result.append(None)
                continue
            c = min(live, key=lambda c: dist[row, nearest[row, c]])
            result.append((c, N_CATEGORIES + p["containers"][c], -1 - c))  # segment: filled in by the demo
        return result

    def expected(self, problem: dict) -> list[list[int]]:
        n = problem["objects_per_category"]
        return [
            sorted(c for c in range(N_CATEGORIES) for _ in range(n) if problem["containers"][c] == k)
            for k in range(N_CONTAINERS)
        ]

    def judge(self, world, row, api, problem):
        """A wrong place releases an object anywhere but into its category's container (any pick is
        right: every object must go)."""
        if api != MOVE_RELEASE:
            return None
        bins = self._containers(world)[row]
        last = int(world.last_released[row])
        where = int(world.inside[row, last])
        want = bins[problem["containers"][int(world.category[row, last])]]
        return None if where == want else "wrong_place"

    def outputs(self, world, problems):
        bins = self._containers(world)
        return [
            [
                sorted(int(world.category[row, i]) for i in np.flatnonzero(world.inside[row] == bins[row, k]))
                for k in range(N_CONTAINERS)
            ]
            for row in range(world.batch_size)
        ]

    def maps(self, name: str) -> list[list[int]]:
        """'train': the 4 training maps; 'unseen': the other 252."""
        every = [list(m) for m in itertools.product(range(N_CONTAINERS), repeat=N_CATEGORIES)]
        if name == "train":
            return [list(m) for m in self.TRAIN_MAPS]
        if name == "unseen":
            return [m for m in every if m not in self.TRAIN_MAPS]
        raise ValueError(f"unknown split {name!r}; use train or unseen")

    def sample(self, rng: np.random.Generator, size: int) -> dict:
        """A random unseen map with `size` objects per category, from a random start."""
        maps = self.maps("unseen")
        problem = {"containers": maps[int(rng.integers(len(maps)))], "objects_per_category": size}
        return self.parse({**problem, "seed": int(rng.integers(SEED_LIMIT))})


BLOCK_STACKING = BlockStacking()
ORDER_FULFILLMENT = OrderFulfillment()
