"""The tabletop in physics: a MuJoCo backend of the NTP world, with the kinematic world's rules.

The scene is generated from the same layouts as the kinematic world: a table, 5 cm cubes (100 g,
friction 1) on free joints, containers (open boxes) and a floating gripper. The gripper and the containers
are mocap bodies: MuJoCo moves them exactly where the controller says each step, so no actuator gains
need tuning and a trajectory is reproducible to the last bit; the gripper has no collision geometry (the
objects it carries and the objects they hit do). A grasp is the authors' rigid attachment: a weld
equality between the gripper and the block, switched on while the gripper touches the block and off to
let go, not friction between fingers.

Each API call is a short controller trajectory that the simulation follows step by step (5 ms steps):
move goes up to a height clear of everything, across, and down above its target; move_grasp reaches down
to the block, welds it and lifts; move_drop lowers the held block to just above its target's column (plus
the world's placement noise, if any), lets go and waits for everything to settle; move_release lowers it
over the emptiest slot of a container and drops it in. A block let go off-centre really falls, and a
tower hit by a carried block really topples. The rules (which calls fail and why) are the kinematic
world's: the same checks run first, on the simulated positions.

After every call the backend reads the simulated state back into the arrays of the `Backend` protocol:
positions, what rests on what (within 1 cm, the same half-block xy test), which container each object
lies in (its centre over the container's floor), and two physics counts: `toppled` (blocks that lost
their support without being picked up, plus released blocks that missed their target) and `knocked`
(calls that knocked a block off a tower).

Many worlds step in one process: every world has its own MjData (and, with containers, its own copy of
the MjModel, the containers being static bodies placed per world), so a batch is as deterministic as a
single world. Objects at rest sleep (MuJoCo's island sleeping): a step of a 44-object world whose
containers hold piles costs about 10 us instead of 300. MuJoCo is an optional dependency
(`pip install neuralprog[physics]`); nothing here is imported by the kinematic backend.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import numpy as np

from neuralprog.envs.mujoco_gl import import_mujoco, renderer
from neuralprog.envs.tabletop.world import BLOCK, CLEARANCE, HOLD_DROP, HOME, KinematicWorld, Layout

TIMESTEP = 0.005
"""Simulation step (s)."""
CARRY_SPEED = 0.5
"""Gripper speed (m/s) along a trajectory while it holds an object."""
FREE_SPEED = 1.0
"""Gripper speed (m/s) while it holds nothing."""
GAP = 0.004
"""How far above its support a held block is let go (m)."""
SETTLE_MAX = 1.0
"""Longest wait (s) for the objects to come to rest after letting go."""
REST_SPEED = 0.02
"""Speed (m/s, rad/s) below which every object counts as at rest."""
MASS = 0.1
"""Mass of a cube (kg)."""
GRAVITY = 9.81
FRICTION = 1.0
"""Sliding friction of every contact."""
INNER = 0.080
"""Half the inner width of a container (m): room for a ring of 8 cubes a layer around an empty centre."""
WALL = 0.004
"""Thickness of a container's walls and floor (m)."""
WALL_HEIGHT = 0.16
"""Height of a container's walls (m): three layers of cubes (the 8 drop slots' first 24 objects), and
low enough for the cameras to see a held object hovering in the container. Taller walls (27 cm, five
layers) hid that object and the gripper from the detector; with these, a pile of more than 24 objects
rises above the walls and can spill (1 of 500 40-object orders in the benchmark)."""
SLOT = 0.054
"""Spacing of the drop slots in a container (m)."""
RESTING = 0.01
"""How far (m) from exactly one block up a block's centre may be and still rest on the block below."""

PALETTE = (
    (0.85, 0.10, 0.10),  # red
    (0.95, 0.50, 0.05),  # orange
    (0.90, 0.85, 0.10),  # yellow
    (0.10, 0.70, 0.15),  # green
    (0.10, 0.75, 0.80),  # cyan
    (0.10, 0.20, 0.85),  # blue
    (0.50, 0.15, 0.80),  # purple
    (0.85, 0.15, 0.65),  # magenta
)
"""Object colours, far apart in hue for the colour detector: stacking blocks take one each; order
fulfillment gives each category one of the first four and each container one of the last four."""
GRIPPER_RGB = (0.05, 0.05, 0.05)
PALM_TOP = 0.008
"""Height of the top of the gripper's palm above the gripper's point (m)."""


def colour_of(containers: np.ndarray, category: np.ndarray) -> list[int]:
    """The palette index of every object of a layout."""
    if containers.any():  # order fulfillment: colour by category, containers by their own
        first = int(np.argmax(containers))
        return [
            4 + i - first if c else int(k) for i, (c, k) in enumerate(zip(containers, category, strict=True))
        ]
    return [i % len(PALETTE) for i in range(len(containers))]


def cameras(containers: bool) -> list[dict]:
    """The fixed cameras of a task: the detector's two (from the front left and the back right, looking
    down at the whole workspace) and a closer one for films; each a position, the point it looks at and
    its vertical field of view (degrees)."""
    if containers:
        centre, spread = np.array([0.3, 0.42, 0.15]), np.array([0.7, 0.8, 1.0])
        close = {"pos": np.array([0.3, -0.55, 0.75]), "lookat": np.array([0.3, 0.4, 0.0]), "fovy": 50.0}
    else:
        centre, spread = np.array([0.15, 0.15, 0.22]), np.array([0.5, 0.5, 0.75])
        close = {"pos": np.array([0.15, -0.45, 0.5]), "lookat": np.array([0.15, 0.18, 0.1]), "fovy": 45.0}
    return [
        {"pos": centre + spread * [-1, -1, 1], "lookat": centre, "fovy": 50.0},
        {"pos": centre + spread * [1, 1, 1], "lookat": centre, "fovy": 50.0},
        close,
    ]


def camera_axes(camera: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right, up and forward unit vectors of a camera (MuJoCo's camera looks along its -z axis)."""
    forward = camera["lookat"] - camera["pos"]
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward), forward


def _box(
    size: tuple[float, float, float], pos: tuple[float, float, float], rgba: str, extra: str = ""
) -> str:
    return (
        f'<geom type="box" size="{size[0]:.4f} {size[1]:.4f} {size[2]:.4f}" '
        f'pos="{pos[0]:.4f} {pos[1]:.4f} {pos[2]:.4f}" rgba="{rgba}" {extra}/>'
    )


def scene_xml(containers: tuple[bool, ...], category: tuple[int, ...]) -> str:
    """The MJCF of a world with these objects (positions are set per world, in its MjData)."""
    colours = colour_of(np.array(containers, dtype=bool), np.array(category))
    rgba = [" ".join(f"{v:.2f}" for v in PALETTE[c]) + " 1" for c in colours]
    bodies, welds = [], []
    half = BLOCK / 2
    for i, (is_bin, colour) in enumerate(zip(containers, rgba, strict=True)):
        if is_bin:  # the body sits at the container's reference point, half a block above the table
            outer = INNER + WALL
            floor = _box((outer, outer, WALL / 2), (0, 0, WALL / 2 - half), colour)
            z = WALL_HEIGHT / 2 - half
            walls = [
                _box((WALL / 2, outer, WALL_HEIGHT / 2), (sx * (INNER + WALL / 2), 0, z), colour)
                for sx in (-1, 1)
            ] + [
                _box((INNER, WALL / 2, WALL_HEIGHT / 2), (0, sy * (INNER + WALL / 2), z), colour)
                for sy in (-1, 1)
            ]
            bodies.append(f'<body name="obj{i}" pos="0 0 {half}">{floor}{"".join(walls)}</body>')
        else:
            cube = _box((half, half, half), (0, 0, 0), colour, f'mass="{MASS}"')
            bodies.append(f'<body name="obj{i}" pos="0 0 {half}"><freejoint/>{cube}</body>')
            welds.append(
                f'<weld name="hold{i}" body1="gripper" body2="obj{i}" active="false" '
                f'relpose="0 0 {-HOLD_DROP} 1 0 0 0" solref="0.01 1"/>'
            )
    black = " ".join(f"{v:.2f}" for v in GRIPPER_RGB) + " 1"
    ghost = 'contype="0" conaffinity="0"'
    gripper = (
        '<body name="gripper" mocap="true" pos="0 0 0.5">'
        + _box((0.035, 0.012, PALM_TOP / 2), (0, 0, PALM_TOP / 2), black, ghost)
        + "".join(_box((0.004, 0.010, 0.02), (sx * 0.031, 0, -0.02), black, ghost) for sx in (-1, 1))
        + "</body>"
    )
    views = []
    for k, cam in enumerate(cameras(any(containers))):
        right, up, _ = camera_axes(cam)
        axes = " ".join(f"{v:.6f}" for v in (*right, *up))
        pos = " ".join(f"{v:.6f}" for v in cam["pos"])
        views.append(f'<camera name="view{k}" pos="{pos}" xyaxes="{axes}" fovy="{cam["fovy"]}"/>')
    return f"""<mujoco model="tabletop">
  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" sleep_tolerance="1e-3">
    <flag sleep="enable"/>
  </option>
  <visual>
    <quality offsamples="0" shadowsize="0"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
    <global offwidth="640" offheight="480"/>
  </visual>
  <default><geom friction="{FRICTION} 0.005 0.0001" condim="4" solref="0.005 1"/></default>
  <worldbody>
    <light pos="0.3 0.4 2" dir="0 0 -1" diffuse="0.35 0.35 0.35" specular="0 0 0" castshadow="false"/>
    <geom name="table" type="plane" size="2 2 0.01" rgba="0.82 0.82 0.80 1"/>
    {"".join(views)}
    {gripper}
    {"".join(bodies)}
  </worldbody>
  <equality>{"".join(welds)}</equality>
</mujoco>"""


def lying_in(positions: np.ndarray, containers: np.ndarray, held: int = -1) -> np.ndarray:
    """(N,) the container each object lies in (its centre over the container's floor), -1 for none;
    containers and the held object lie in none. positions (N, 3), containers (N,) bool."""
    inside = np.full(len(positions), -1)
    bins = np.flatnonzero(containers)
    if len(bins):
        offset = np.abs(positions[:, None, :2] - positions[bins][None, :, :2]).max(-1)
        over = (offset < INNER) & ~containers[:, None]
        if held >= 0:
            over[held] = False
        where = over.any(1)
        inside[where] = bins[over[where].argmax(1)]
    return inside


@cache
def _model(containers: tuple[bool, ...], category: tuple[int, ...]) -> Any:
    return import_mujoco().MjModel.from_xml_string(scene_xml(containers, category))


class MujocoWorld(KinematicWorld):
    """A batch of tabletop worlds simulated by MuJoCo, behind the kinematic world's interface and
    rules (see the module docstring)."""

    resting_tolerance = RESTING

    def __init__(self, layouts: list[Layout], noise: float = 0.0, seeds: list[int] | None = None):
        super().__init__(layouts, noise, seeds)
        self.mujoco = import_mujoco()
        self.sim_steps = 0
        """Simulation steps taken by every world together."""
        self.film: dict[int, list[np.ndarray]] = {}
        """Worlds being filmed (set `film[row] = []`): their frames so far, from the close camera.
        Filming draws the state; it never changes it."""
        self.film_every = 10
        """Simulation steps between film frames (10: 20 frames per simulated second)."""
        self.film_size = (240, 320)
        """Height and width of film frames."""
        self.models: list[Any] = []
        self.datas: list[Any] = []
        self.signatures: list[tuple] = []
        self.bodies: list[np.ndarray] = []
        for row, lay in enumerate(layouts):
            key = (tuple(bool(c) for c in lay.containers), tuple(int(c) for c in lay.category))
            model = _model(*key)
            if lay.containers.any():  # containers are static bodies (so piles in them can sleep): own copy
                model = copy.deepcopy(model)
                for k in np.flatnonzero(lay.containers):
                    model.body_pos[model.body(f"obj{k}").id] = lay.positions[k]
            data = self.mujoco.MjData(model)
            for i, p in enumerate(lay.positions):
                body = model.body(f"obj{i}")
                if not lay.containers[i]:
                    adr = model.jnt_qposadr[body.jntadr[0]]
                    data.qpos[adr : adr + 7] = [*p, 1, 0, 0, 0]
            data.mocap_pos[0] = HOME
            self.mujoco.mj_forward(model, data)
            self.models.append(model)
            self.signatures.append(key)
            self.datas.append(data)
            self.bodies.append(np.array([model.body(f"obj{i}").id for i in range(len(lay.positions))]))
            self._settle(row)
            self._read(row)

    # -------------------------------------------------------------------------------------------
    # simulation

    def _step(self, row: int) -> None:
        self.mujoco.mj_step(self.models[row], self.datas[row])
        self.sim_steps += 1
        film = self.film.get(row)
        if film is not None and self.sim_steps % self.film_every == 0:
            film.append(self.render(row, camera=2, size=self.film_size)[0])

    def _follow(self, row: int, waypoints: list[np.ndarray], speed: float) -> None:
        """Move the gripper through waypoints in straight lines at a speed, a simulation step at a time."""
        data = self.datas[row]
        start = data.mocap_pos[0].copy()
        for goal in waypoints:
            n = max(1, math.ceil(np.linalg.norm(goal - start) / (speed * TIMESTEP)))
            for k in range(1, n + 1):
                data.mocap_pos[0] = start + (goal - start) * (k / n)
                self._step(row)
            start = np.array(goal, dtype=np.float64)

    def _settle(self, row: int, least: float = 0.05) -> None:
        """Step until every object is at rest (or SETTLE_MAX passes)."""
        data = self.datas[row]
        for k in range(int(SETTLE_MAX / TIMESTEP)):
            self._step(row)
            if (
                k * TIMESTEP >= least
                and k % 4 == 0
                and (not data.qvel.size or np.abs(data.qvel).max() < REST_SPEED)
            ):
                return

    def _read(self, row: int) -> None:
        """Copy the simulated state of one world into the backend arrays."""
        n = int(self.n_objects[row])
        data = self.datas[row]
        self.positions[row, :n] = data.xpos[self.bodies[row]]
        self.gripper[row] = data.mocap_pos[0]
        self.inside[row] = -1
        self.inside[row, :n] = lying_in(
            self.positions[row, :n], self.containers[row, :n], int(self.held[row])
        )

    def _supports(self, row: int) -> dict[int, int]:
        """What each free block outside the containers rests on: a block, -1 for the table, -2 for
        neither (leaning, or on something else)."""
        n = int(self.n_objects[row])
        p = self.positions[row]
        result = {}
        for i in range(n):
            if self.containers[row, i] or self.inside[row, i] >= 0 or i == self.held[row]:
                continue
            if abs(p[i, 2] - BLOCK / 2) < RESTING:
                result[i] = -1
                continue
            below = [
                j
                for j in range(n)
                if j != i
                and not self.containers[row, j]
                and np.abs(p[i, :2] - p[j, :2]).max() < BLOCK / 2
                and abs(p[i, 2] - p[j, 2] - BLOCK) < RESTING
            ]
            result[i] = below[0] if below else -2
        return result

    def _account(self, row: int, before: dict[int, int], moved: int, aim: int) -> None:
        """Count blocks that lost their support in a call (not the one moved) and a moved block that did
        not come to rest on `aim` (-3: no aim)."""
        after = self._supports(row)
        fell = [b for b, s in before.items() if b != moved and s >= 0 and after.get(b, s) != s]
        self.toppled[row] += len(fell)
        self.knocked[row] += bool(fell)
        if aim != -3 and after.get(moved, aim) != aim:
            self.toppled[row] += 1

    def _clearance(self, row: int) -> float:
        """Top of the highest object or container wall in a world, the held object aside (m)."""
        n = int(self.n_objects[row])
        walls = self.positions[row, :n, 2] - BLOCK / 2 + WALL_HEIGHT
        tops = self.positions[row, :n, 2] + BLOCK / 2
        tops = np.where(self.containers[row, :n], walls, tops)
        if self.held[row] >= 0:
            tops[self.held[row]] = 0.0
        return float(tops.max(initial=0.0))

    # -------------------------------------------------------------------------------------------
    # the motion hooks of the kinematic world's rules

    def _travel(self, rows: np.ndarray, goal: np.ndarray) -> None:
        for row, target in zip(rows.tolist(), goal, strict=True):
            holding = self.held[row] >= 0
            clear = self._clearance(row) + (HOLD_DROP + BLOCK / 2 + 0.02 if holding else 0.03)
            start = self.datas[row].mocap_pos[0].copy()
            height = max(start[2], target[2], clear)
            before = self._supports(row)
            self._follow(
                row,
                [np.array([*start[:2], height]), np.array([*target[:2], height]), target],
                CARRY_SPEED if holding else FREE_SPEED,
            )
            if holding:
                self._settle(row, least=0.02)
            self._read(row)
            self._account(row, before, int(self.held[row]), -3)

    def _attach(self, rows: np.ndarray, objs: np.ndarray) -> None:
        for row, obj in zip(rows.tolist(), objs.tolist(), strict=True):
            data = self.datas[row]
            hover = data.mocap_pos[0].copy()
            block = self.positions[row, obj]
            if np.abs(block[:2] - hover[:2]).max() > BLOCK / 2:
                self._fail(
                    np.array([row]),
                    lambda _, obj=obj: f"grasp missed object {obj}: it is not below the gripper",
                )
                continue
            before = self._supports(row)
            self._follow(row, [np.add(block, [0, 0, HOLD_DROP])], CARRY_SPEED)
            data.eq_active[self._weld(row, obj)] = 1
            data.xfrc_applied[self.bodies[row][obj], 2] = MASS * GRAVITY  # the gripper bears its weight
            self.held[row] = obj
            for _ in range(10):  # let the weld take hold before lifting
                self._step(row)
            self._follow(row, [np.array([*block[:2], hover[2]])], CARRY_SPEED)
            self._settle(row, least=0.02)  # the welded block catches up with the gripper
            self._read(row)
            self._account(row, before, obj, -3)

    def _release(self, rows: np.ndarray, held: np.ndarray, dst: np.ndarray) -> None:
        jitter = self._jitter(rows)
        for k, (row, obj, target) in enumerate(zip(rows.tolist(), held.tolist(), dst.tolist(), strict=True)):
            data = self.datas[row]
            before = self._supports(row)
            if self.containers[row, target]:
                slot, floor = self._slot(row, target)
                aim = -3
            else:
                top, _ = self._tops(np.array([row]), np.array([target]))
                base = self.positions[row, int(top[0])]
                slot, floor = base[:2] + jitter[k], base[2] + BLOCK / 2
                aim = int(top[0])
            hover = data.mocap_pos[0].copy()
            down = np.array([*slot, floor + GAP + BLOCK / 2 + HOLD_DROP])
            clear = max(hover[2], self._clearance(row) + HOLD_DROP + BLOCK / 2 + 0.02)
            path = [np.array([*hover[:2], clear]), np.array([*slot, clear]), down]
            self._follow(row, path, CARRY_SPEED)
            data.eq_active[self._weld(row, obj)] = 0
            data.xfrc_applied[self.bodies[row][obj], 2] = 0.0
            self.held[row] = -1
            self.last_released[row] = obj
            self._settle(row)
            self._read(row)
            self._account(row, before, obj, aim)
            top, _ = self._tops(np.array([row]), np.array([target]))
            rise = self.positions[row, int(top[0]), 2] + BLOCK / 2 + CLEARANCE
            self._follow(
                row, [np.array([*data.mocap_pos[0][:2], rise]), np.array([*hover[:2], rise])], FREE_SPEED
            )
            self._read(row)

    def _weld(self, row: int, obj: int) -> int:
        return int(self.models[row].equality(f"hold{obj}").id)

    def _slot(self, row: int, container: int) -> tuple[np.ndarray, float]:
        """The lowest of a container's drop slots (the first such), and the top of what lies in it. The
        slots ring the container's centre, which stays empty: a held object hovers there (where the
        kinematic world's gripper hovers) however high the pile around it grows."""
        centre = self.positions[row, container]
        floor = centre[2] - BLOCK / 2 + WALL
        offsets = [np.array([sx, sy]) * SLOT for sy in (-1, 0, 1) for sx in (-1, 0, 1) if sx or sy]
        mine = np.flatnonzero(self.inside[row] == container)
        best: tuple[float, np.ndarray] | None = None
        for off in offsets:
            xy = centre[:2] + off
            near = [i for i in mine if np.abs(self.positions[row, i, :2] - xy).max() < BLOCK]
            top = max([floor, *(self.positions[row, i, 2] + BLOCK / 2 for i in near)])
            if best is None or top < best[0] - 1e-3:
                best = (top, xy)
        assert best is not None
        return best[1], best[0]

    # -------------------------------------------------------------------------------------------
    # pictures

    def render(
        self, row: int, camera: int = 0, size: tuple[int, int] = (160, 160), depth: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """An RGB image (H, W, 3) uint8 of one world from one of its fixed cameras, and its depth map
        (H, W) in metres when asked for."""
        view = _renderer(self.signatures[row], size)
        view.update_scene(self.datas[row], camera=f"view{camera}")
        rgb = view.render().copy()
        dist = None
        if depth:
            view.enable_depth_rendering()
            view.update_scene(self.datas[row], camera=f"view{camera}")
            dist = view.render().copy()
            view.disable_depth_rendering()
        return rgb, dist


_RENDERERS: dict[tuple, Any] = {}


def _renderer(signature: tuple, size: tuple[int, int]) -> Any:
    """One offscreen renderer per kind of scene and image size (making one costs a GL context). Worlds
    whose containers stand elsewhere share it: what it draws comes from each world's data."""
    key = (signature, size)
    if key not in _RENDERERS:
        _RENDERERS[key] = renderer(_model(*signature), size[0], size[1])
    return _RENDERERS[key]
