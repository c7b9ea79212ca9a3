"""The tabletop world of Neural Task Programming (Xu et al. 2018): a floating gripper, 5 cm cubes and
open containers on a table, driven through four API calls, many worlds at once.

Everything is a NumPy array with a leading batch dimension, so a batch of worlds steps in lockstep the
way the addition pads do. The kinematic backend here is exactly deterministic (placement noise, when on,
comes from a seeded generator per world); a physics backend implements the same `Backend` protocol.

The API, with the authors' semantics (a grasp is a rigid attachment, not friction):
- move(i): the gripper goes above object i (clear of whatever stands on it) and remembers i as its
  target;
- move_grasp: reach down and attach the target; the target must be free (nothing on it) and the gripper
  empty;
- move_drop / move_release: lower the held object onto the target and let go: onto the top of the
  target's column, or into the target when it is a container. Holding nothing fails.
A call that breaks a rule fails that world: it records the reason and ignores every later call.

With placement noise, a dropped block lands with a seeded xy jitter; if its centre then lies more than
half a block from the centre of the block beneath, it topples onto the table beside the tower (counted in
`toppled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

BLOCK = 0.05
"""Edge of a cube (m)."""
CLEARANCE = 0.10
"""Height of the gripper above the top of its target's column after a move (m)."""
HOLD_DROP = 0.05
"""How far below the gripper a held object hangs (m)."""
HOME = np.array([0.15, 0.15, 0.50])
"""Where the gripper starts (above the middle of the stacking grid)."""
MOVE, MOVE_GRASP, MOVE_DROP, MOVE_RELEASE = 0, 1, 2, 3
API_NAMES = ("move", "move_grasp", "move_drop", "move_release")


@dataclass
class Layout:
    """A start configuration: where every object stands and which are containers."""

    positions: np.ndarray
    """(N, 3) centres of the objects (m); blocks first, containers last."""
    containers: np.ndarray
    """(N,) bool: which objects are containers."""
    category: np.ndarray
    """(N,) int: the category of each object (-1 for containers and plain blocks)."""


class Backend(Protocol):
    """A batch of tabletop worlds that API calls act on: what the tasks, the expert and the interpreter
    read and call (the kinematic world here; a physics backend implements the same)."""

    batch_size: int
    n_objects: np.ndarray  # (B,) objects in each world (padding beyond)
    containers: np.ndarray  # (B, N) bool
    category: np.ndarray  # (B, N) object categories, -1 for none
    positions: np.ndarray  # (B, N, 3) object centres
    gripper: np.ndarray  # (B, 3)
    held: np.ndarray  # (B,) the held object, -1 when empty
    target: np.ndarray  # (B,) the object of the last move, -1 before any
    inside: np.ndarray  # (B, N) the container each object was released into, -1 when none
    last_released: np.ndarray  # (B,) the object let go of last
    failed: np.ndarray  # (B,) bool
    reasons: list[str | None]  # why each failed world failed
    toppled: np.ndarray  # (B,) blocks that fell off a tower
    knocked: np.ndarray  # (B,) calls that knocked a block off a tower (physics only; zeros otherwise)

    def apply(self, rows: np.ndarray, api: np.ndarray, target: np.ndarray) -> None:
        """API call api[k] (MOVE...MOVE_RELEASE) with object argument target[k] in world rows[k]."""
        ...

    def above(self, row: int, obj: int) -> list[int]:
        """The objects stacked on obj, bottom-up."""
        ...

    def towers(self, row: int, n_blocks: int) -> list[list[int]]:
        """The towers standing among the first n_blocks objects, bottom-up, sorted."""
        ...


class KinematicWorld:
    """A batch of tabletop worlds with kinematic (exact, instant) API calls; see the module docstring.

    The rules (which calls fail, and why) live in `apply` and its checks; the motion of a valid call in
    three hooks, `_travel`, `_attach` and `_release`, which a physics backend overrides."""

    resting_tolerance = 1e-6
    """How far (m) a block's centre may be from exactly one block above another's and still rest on it."""

    def __init__(self, layouts: list[Layout], noise: float = 0.0, seeds: list[int] | None = None):
        if not layouts:
            raise ValueError("a world batch needs at least one layout")
        n = max(len(lay.positions) for lay in layouts)
        b = len(layouts)
        self.batch_size = b
        self.n_objects = np.array([len(lay.positions) for lay in layouts])
        self.positions = np.zeros((b, n, 3))
        self.positions[:, :, 2] = -1.0  # padding objects lie under the table, out of every column
        self.containers = np.zeros((b, n), dtype=bool)
        self.category = np.full((b, n), -1, dtype=np.int64)
        for row, lay in enumerate(layouts):
            k = len(lay.positions)
            self.positions[row, :k] = lay.positions
            self.containers[row, :k] = lay.containers
            self.category[row, :k] = lay.category
        self.gripper = np.tile(HOME, (b, 1))
        self.held = np.full(b, -1, dtype=np.int64)
        self.target = np.full(b, -1, dtype=np.int64)
        self.inside = np.full((b, n), -1, dtype=np.int64)
        self.failed = np.zeros(b, dtype=bool)
        self.reasons: list[str | None] = [None] * b
        self.toppled = np.zeros(b, dtype=np.int64)
        self.knocked = np.zeros(b, dtype=np.int64)
        """Calls that knocked a block off a tower: never here (a drop moves only the dropped block)."""
        self.last_released = np.full(b, -1, dtype=np.int64)
        """The object each world let go of last."""
        self.noise = noise
        """Standard deviation of the xy jitter of a drop (m); 0 places exactly."""
        self.rngs = [np.random.default_rng([s, 7]) for s in (seeds or [0] * b)]

    # -------------------------------------------------------------------------------------------
    # geometry

    def above(self, row: int, obj: int) -> list[int]:
        """The objects stacked on obj, bottom-up: each rests on the previous one (its centre one block
        higher, within half a block in x and y)."""
        p = self.positions[row]
        free = (self.inside[row] < 0) & ~self.containers[row]
        if self.held[row] >= 0:
            free[self.held[row]] = False  # a held object stands on nothing
        chain: list[int] = []
        current = obj
        while True:
            on = free & (np.abs(p[:, :2] - p[current, :2]).max(axis=1) < BLOCK / 2)
            on &= np.abs(p[:, 2] - p[current, 2] - BLOCK) < self.resting_tolerance
            if self.containers[row, current] or not on.any():
                return chain
            current = int(np.flatnonzero(on)[0])
            chain.append(current)

    def top(self, row: int, obj: int) -> int:
        """The object at the top of obj's column (obj itself when nothing stands on it)."""
        chain = self.above(row, obj)
        return chain[-1] if chain else obj

    def _tops(self, rows: np.ndarray, objs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For many (row, obj) pairs at once: the top object of obj's column (R,), and the object resting
        directly on obj (R,; -1 for none). Walks up every column together, one level per pass."""
        p = self.positions[rows]  # (R, N, 3)
        free = (self.inside[rows] < 0) & ~self.containers[rows]
        k = np.arange(len(rows))
        free[k, self.held[rows].clip(0)] &= self.held[rows] < 0  # a held object stands on nothing
        current, first = objs.copy(), np.full(len(rows), -1)
        active = ~self.containers[rows, objs]
        for _ in range(p.shape[1]):
            base = p[k, current]  # (R, 3)
            on = free & (np.abs(p[..., :2] - base[:, None, :2]).max(-1) < BLOCK / 2)
            on &= (np.abs(p[..., 2] - base[:, None, 2] - BLOCK) < self.resting_tolerance) & active[:, None]
            active = on.any(1)
            if not active.any():
                break
            nxt = on.argmax(1)
            first = np.where(active & (first < 0), nxt, first)
            current = np.where(active, nxt, current)
        return current, first

    def _fail(self, rows: np.ndarray, reason) -> None:
        """Fail these worlds; `reason(row)` says why."""
        for row in rows.tolist():
            self.failed[row] = True
            self.reasons[row] = reason(row)

    # -------------------------------------------------------------------------------------------
    # the API, applied to many worlds at once

    def apply(self, rows: np.ndarray, api: np.ndarray, target: np.ndarray) -> None:
        rows, api, target = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (rows, api, target))
        live = ~self.failed[rows]
        for call, act in ((MOVE, self._move), (MOVE_GRASP, self._grasp)):
            pick = live & (api == call)
            if pick.any():
                act(rows[pick], target[pick])
        pick = live & ((api == MOVE_DROP) | (api == MOVE_RELEASE))
        if pick.any():
            self._let_go(rows[pick], api[pick])
        unknown = live & ((api < 0) | (api > MOVE_RELEASE))
        self._fail(rows[unknown], lambda row: "unknown API call")

    def _move(self, rows: np.ndarray, objs: np.ndarray) -> None:
        held = self.held[rows]
        bad = (objs < 0) | (objs >= self.n_objects[rows])
        self._fail(rows[bad], lambda row: "move to an object that does not exist")
        rows, objs, held = rows[~bad], objs[~bad], held[~bad]
        for why in ("which the gripper holds", "which is inside a container"):
            bad = objs == held if why.endswith("holds") else self.inside[rows, objs] >= 0
            named = dict(zip(rows[bad].tolist(), objs[bad].tolist(), strict=True))
            self._fail(rows[bad], lambda row, why=why, named=named: f"move to object {named[row]}, {why}")
            rows, objs, held = rows[~bad], objs[~bad], held[~bad]
        top, _ = self._tops(rows, objs)
        lift = np.where(held >= 0, HOLD_DROP + BLOCK / 2, 0.0)
        self.target[rows] = objs
        goal = self.positions[rows, objs].copy()
        goal[:, 2] = self.positions[rows, top, 2] + BLOCK / 2 + CLEARANCE + lift
        self._travel(rows, goal)

    def _travel(self, rows: np.ndarray, goal: np.ndarray) -> None:
        """Take the grippers of these worlds to goal (R, 3), with what they hold."""
        self.gripper[rows] = goal
        held = self.held[rows]
        holding = held >= 0  # a grasp is rigid: the held object travels with the gripper
        self.positions[rows[holding], held[holding]] = goal[holding] - [0, 0, HOLD_DROP]

    def _grasp(self, rows: np.ndarray, _: np.ndarray) -> None:
        bad = self.held[rows] >= 0
        self._fail(rows[bad], lambda row: f"grasp while holding object {self.held[row]}")
        rows = rows[~bad]
        bad = self.target[rows] < 0
        self._fail(rows[bad], lambda row: "grasp before any move: the gripper is above nothing")
        rows = rows[~bad]
        bad = self.containers[rows, self.target[rows]]
        self._fail(rows[bad], lambda row: f"grasp container {self.target[row]}")
        rows = rows[~bad]
        objs = self.target[rows]
        _, on = self._tops(rows, objs)
        covered = on >= 0
        blockers = dict(zip(rows[covered].tolist(), on[covered].tolist(), strict=True))
        self._fail(
            rows[covered],
            lambda row: f"grasp object {self.target[row]}, which has object {blockers[row]} on it",
        )
        self._attach(rows[~covered], objs[~covered])

    def _attach(self, rows: np.ndarray, objs: np.ndarray) -> None:
        """Reach down from above these free objects and attach each to its gripper."""
        self.held[rows] = objs
        self.positions[rows, objs] = self.gripper[rows] - [0, 0, HOLD_DROP]

    def _let_go(self, rows: np.ndarray, api: np.ndarray) -> None:
        held = self.held[rows]
        bad = held < 0
        names = dict(zip(rows[bad].tolist(), api[bad].tolist(), strict=True))
        self._fail(rows[bad], lambda row: f"{API_NAMES[names[row]]} while holding nothing")
        self._release(rows[~bad], held[~bad], self.target[rows[~bad]])

    def _release(self, rows: np.ndarray, held: np.ndarray, dst: np.ndarray) -> None:
        """Lower each held object onto its target's column (or into the target container), let go and
        rise clear."""
        done = rows
        self.held[rows] = -1
        self.last_released[rows] = held
        into = self.containers[rows, dst]
        self.inside[rows[into], held[into]] = dst[into]
        self.positions[rows[into], held[into]] = self.positions[rows[into], dst[into]]
        rows, held, dst_blocks = rows[~into], held[~into], dst[~into]
        beneath, _ = self._tops(rows, dst_blocks)
        jitter = self._jitter(rows)
        base = self.positions[rows, beneath]
        falls = np.abs(jitter).max(1) > BLOCK / 2
        away = jitter / np.maximum(np.linalg.norm(jitter, axis=1, keepdims=True), 1e-9)
        landed = np.concatenate([base[:, :2] + jitter, base[:, 2:] + BLOCK], 1)
        fallen = np.concatenate([base[:, :2] + away * 1.5 * BLOCK, np.full((len(rows), 1), BLOCK / 2)], 1)
        self.positions[rows, held] = np.where(falls[:, None], fallen, landed)
        self.toppled[rows] += falls
        top, _ = self._tops(done, self.target[done])  # the gripper rises clear of what it let go
        self.gripper[done, 2] = self.positions[done, top, 2] + BLOCK / 2 + CLEARANCE

    def _jitter(self, rows: np.ndarray) -> np.ndarray:
        """(R, 2) xy placement errors of drops in these worlds (zeros without noise). Each world draws
        from its own generator, so a world's fate does not depend on its batch."""
        if self.noise <= 0 or not len(rows):
            return np.zeros((len(rows), 2))
        return np.stack([self.rngs[row].normal(0.0, self.noise, 2) for row in rows.tolist()]).reshape(-1, 2)

    # -------------------------------------------------------------------------------------------
    # reading the state

    def towers(self, row: int, n_blocks: int) -> list[list[int]]:
        """The towers standing among the first n_blocks objects, each bottom-up, sorted; blocks alone on
        the table are left out."""
        p = self.positions[row, :n_blocks]
        on_table = [
            i
            for i in range(n_blocks)
            if abs(p[i, 2] - BLOCK / 2) < self.resting_tolerance and i != self.held[row]
        ]
        towers = [[base, *self.above(row, base)] for base in on_table]
        return sorted(t for t in towers if len(t) > 1)
