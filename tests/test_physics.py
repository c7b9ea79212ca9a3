"""The tabletop in physics (MuJoCo): the same rules as the kinematic world, real falls, determinism,
video demonstrations read back by the colour detector, and the CLI's --backend mujoco."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

if importlib.util.find_spec("mujoco") is None:  # not imported here: the library picks its GL backend first
    pytest.skip("the physics extra (mujoco) is not installed", allow_module_level=True)

from neuralprog.cli import main
from neuralprog.envs.tabletop.experts import film, run_expert
from neuralprog.envs.tabletop.physics import WALL_HEIGHT, MujocoWorld
from neuralprog.envs.tabletop.tasks import BLOCK_STACKING, ORDER_FULFILLMENT
from neuralprog.envs.tabletop.video import read_video, write_video
from neuralprog.envs.tabletop.world import (
    BLOCK,
    HOLD_DROP,
    MOVE,
    MOVE_DROP,
    MOVE_GRASP,
    KinematicWorld,
    Layout,
)

STACK, ORDER = BLOCK_STACKING.using("mujoco"), ORDER_FULFILLMENT.using("mujoco")


def _two_blocks(world_type, noise: float = 0.0, seeds=None, n: int = 1):
    positions = np.array([[0.0, 0.0, BLOCK / 2], [0.2, 0.0, BLOCK / 2]])
    layout = Layout(positions, np.zeros(2, dtype=bool), np.full(2, -1))
    return world_type([layout] * n, noise=noise, seeds=seeds)


def _call(world, api: int, obj: int = 0) -> None:
    rows = np.arange(world.batch_size)
    world.apply(rows, np.full(len(rows), api), np.full(len(rows), obj))


def test_the_kinematic_backend_never_imports_mujoco():
    code = (
        "import sys\n"
        "import neuralprog.cli\n"
        "from neuralprog.envs.tabletop.experts import record\n"
        "from neuralprog.envs.tabletop.tasks import BLOCK_STACKING\n"
        "record(BLOCK_STACKING, BLOCK_STACKING.test_trials('unseen', 1000, 2))\n"
        "assert 'mujoco' not in sys.modules, 'mujoco was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_gymnasium_env_runs_in_physics_and_draws_the_table():
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    env = gym.make("neuralprog/BlockStacking-v0", backend="mujoco", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=3, options={"towers": [[0, 3]], "seed": 3})
    for action in ([0, 3], [1, 0], [0, 0], [2, 0]):
        _, reward, terminated, _, info = env.step(action)
    assert reward == 1.0 and terminated and info["output"] == [[0, 3]] and info["knocked"] == 0
    picture = env.render()
    assert picture.shape == (240, 320, 3) and picture.std() > 5  # not a blank frame


def test_the_expert_succeeds_in_physics_and_knocks_nothing_over():
    problems = STACK.test_trials("unseen", 1000, 8)
    _, world = run_expert(STACK, problems)
    assert STACK.outputs(world, problems) == [STACK.expected(p) for p in problems]
    assert not world.failed.any() and world.toppled.sum() == 0 and world.knocked.sum() == 0
    orders = [ORDER.sample(np.random.default_rng(k), 10) for k in range(2)]  # 40 objects each
    _, world = run_expert(ORDER, orders)
    assert ORDER.outputs(world, orders) == [ORDER.expected(p) for p in orders]
    delivered = ~world.containers & (np.arange(world.positions.shape[1]) < world.n_objects[:, None])
    assert (world.inside[delivered] >= 0).all()
    assert (world.positions[delivered][:, 2] < 5 * BLOCK + WALL_HEIGHT).all()  # they lie in the containers


def test_same_seed_same_trajectory_bit_for_bit_alone_or_in_a_batch():
    problems = STACK.test_trials("seen", 1000, 3)
    noisy = BLOCK_STACKING.view(noise=0.01).using("mujoco")
    finals = []
    for task in (STACK, noisy):
        _, batch = run_expert(task, problems)
        _, again = run_expert(task, problems)
        _, alone = run_expert(task, problems[:1])
        assert np.array_equal(batch.positions, again.positions)
        assert np.array_equal(batch.positions[:1], alone.positions)
        finals.append(batch.positions)
    assert not np.array_equal(finals[0], finals[1])  # the noise moved something


def test_a_grasp_is_a_weld_and_the_rules_are_the_kinematic_worlds():
    world = _two_blocks(MujocoWorld)
    _call(world, MOVE, 1)
    _call(world, MOVE_GRASP)
    assert world.held[0] == 1
    np.testing.assert_allclose(world.positions[0, 1], world.gripper[0] - [0, 0, HOLD_DROP], atol=1e-3)
    _call(world, MOVE, 0)  # the held block travels with the gripper, high above block 0
    assert world.positions[0, 1, 2] > 0.1 and abs(world.positions[0, 1, 0] - world.positions[0, 0, 0]) < 1e-3
    _call(world, MOVE_DROP)
    assert world.above(0, 0) == [1] and world.held[0] == -1
    for world_type in (KinematicWorld, MujocoWorld):  # the same mistake fails both worlds the same way
        w = _two_blocks(world_type)
        _call(w, MOVE, 1)
        _call(w, MOVE_GRASP)
        _call(w, MOVE, 0)
        _call(w, MOVE_DROP)
        _call(w, MOVE, 0)
        _call(w, MOVE_GRASP)
        assert w.failed[0] and w.reasons[0] == "grasp object 0, which has object 1 on it"


def test_a_block_let_go_off_centre_really_falls_and_a_centred_one_stands():
    seeds = list(range(12))
    for noise, falls in ((0.0, False), (0.03, True)):
        world = _two_blocks(MujocoWorld, noise, seeds, n=len(seeds))
        for api, obj in ((MOVE, 1), (MOVE_GRASP, 0), (MOVE, 0), (MOVE_DROP, 0)):
            _call(world, api, obj)
        stands = np.array([world.above(row, 0) == [1] for row in range(len(seeds))])
        on_table = np.abs(world.positions[:, 1, 2] - BLOCK / 2) < 0.01
        assert (world.toppled > 0).any() == falls and stands.all() != falls
        assert (on_table == (world.toppled > 0)).all()  # what fell lies on the table, counted


def test_video_demonstrations_read_back_to_the_simulators_observations(tmp_path):
    problems = [STACK.test_trials("unseen", 1000, 2)[1], ORDER.sample(np.random.default_rng(3), 1)]
    for task, problem in zip((STACK, ORDER), problems, strict=True):
        runs, _ = run_expert(task, [problem], which=1)
        video = film(task, [problem])[0]
        truth = np.stack(runs[0].obs)
        assert video.rgb.shape[:2] == (len(truth), 2)
        np.testing.assert_allclose(task.video_frames(problem, video), truth, atol=0.01)  # within 1 cm
        path = write_video(tmp_path / task.name, video)
        again = read_video(path)
        assert np.array_equal(again.rgb, video.rgb) and np.abs(again.depth - video.depth).max() <= 5e-4
    with pytest.raises(ValueError, match=re.escape("no rgb_NNN.png")):
        read_video(tmp_path)
    (tmp_path / STACK.name / "depth_001.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=re.escape("cannot read video frame rgb_001.png")):
        read_video(tmp_path / STACK.name)


@pytest.fixture(scope="module")
def stacking_run(tmp_path_factory):
    """A barely trained block-stacking model whose traces were recorded in physics: the CLI's paths,
    not its skill."""
    from neuralprog.presets import get_preset, override
    from neuralprog.train.ntp import train

    preset = override(
        get_preset("ntp-stacking"),
        [
            "train.updates=4",
            "data.train_tasks=4",
            "data.trials_per_task=2",
            "train.eval_every=2",
            "train.validation_problems=2",
            "data.backend=mujoco",
        ],
    )
    return train(preset, tmp_path_factory.mktemp("ntp") / "run", progress=False, log=lambda _: None)


def test_trace_films_the_robot_building_the_tower_in_physics(stacking_run, tmp_path, capsys):
    import imageio.v3 as iio

    gif = tmp_path / "run.gif"
    problem = '{"towers": [[0, 3]], "seed": 5}'
    args = ["trace", str(stacking_run), "--problem", problem, "--oracle", "--backend", "mujoco"]
    assert main([*args, "--frames", str(gif)]) == 0
    out = capsys.readouterr().out
    assert "tower: 0 < 3" in out and "correct" in out and "filmed in physics" in out
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] > 20 and frames.shape[-1] == 3
    assert main(["trace", str(stacking_run), "--problem", problem, "--frames", str(tmp_path / "k.gif")]) == 2
    assert "--backend mujoco" in capsys.readouterr().err


def test_eval_and_solve_run_in_physics_with_video_demonstrations(stacking_run, tmp_path, capsys):
    args = ["eval", str(stacking_run), "--lengths", "1", "--n", "2", "--backend", "mujoco", "--video"]
    assert main(args) == 0
    assert "block-stacking" in capsys.readouterr().out
    video = write_video(tmp_path / "demo", film(STACK, [{"towers": [[2, 6]], "seed": 9}])[0])
    problems = tmp_path / "in.jsonl"
    lines = [
        {"towers": [[2, 6]], "seed": 1, "demonstration": str(video)},
        {"towers": [[2, 6]], "demonstration": str(tmp_path)},
    ]
    problems.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "solve",
                str(stacking_run),
                "--problems",
                str(problems),
                "--out",
                str(out),
                "--backend",
                "mujoco",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert "output" in rows[0] and "no rgb_NNN.png" in rows[1]["error"]
    assert main(["eval", str(stacking_run), "--lengths", "1", "--n", "1", "--video"]) == 2
    assert "need the mujoco backend" in capsys.readouterr().err


def test_a_missing_opengl_backend_is_one_line_naming_the_variable(stacking_run):
    code = (
        "from neuralprog.cli import main\n"
        f"raise SystemExit(main(['trace', {str(stacking_run)!r}, '--problem', '{{\"towers\": [[0, 1]]}}', "
        "'--backend', 'mujoco']))\n"
    )
    env = {**os.environ, "MUJOCO_GL": "no-such-backend"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "MUJOCO_GL=no-such-backend" in done.stderr
