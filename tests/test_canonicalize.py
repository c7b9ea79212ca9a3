"""NPI's car canonicalization task: the machine, the oracle, problems, the image bank and the model's CNN."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest
import torch

from neuralprog.envs.cars import canonicalize
from neuralprog.envs.cars.canonicalize import MAX_SIZE, N_AZ, N_EL, CarsTask, distance
from neuralprog.envs.cars.render import AZIMUTHS, ELEVATIONS
from neuralprog.models.npi import NPI, NPIConfig
from neuralprog.registry import get_task
from neuralprog.traces import record

CARS = get_task("cars")
PHYSICS = importlib.util.find_spec("mujoco") is not None


def problem(az: int, el: int, target_az: int, target_el: int, model: int = 5) -> dict:
    return {
        "model": model,
        "azimuth": az,
        "elevation": el,
        "target_azimuth": target_az,
        "target_elevation": target_el,
    }


def test_the_oracle_reaches_every_target_from_every_pose_the_short_way():
    for a, az in enumerate(AZIMUTHS):
        for e, el in enumerate(ELEVATIONS):
            # every target azimuth, with target elevations that cycle so that all pairs of start and
            # target elevation occur over the start azimuths
            problems = [problem(az, el, ta, ELEVATIONS[(a + e + t) % N_EL]) for t, ta in enumerate(AZIMUTHS)]
            for p in problems:
                trace = record(CARS, p)
                machine = CARS.machine([p])
                for step in trace.steps:
                    if step.next == "ACT":
                        machine.act(np.zeros(1, dtype=np.int64), np.asarray([step.next_args]))
                assert machine.outputs()[0] == CARS.expected(p)
                moves = sum(step.next == "ACT" for step in trace.steps)
                assert moves == CARS.size(p) <= MAX_SIZE
                assert len(trace.steps) == 5 + 3 * moves  # GOTO 3, HGOTO and VGOTO 1 + moves, moves 2 each


def test_camera_moves_wrap_the_azimuth_and_stop_the_elevation():
    machine = CARS.machine([problem(165, 60, 0, 0), problem(-180, 0, 0, 0)])
    rows = np.arange(2)
    machine.act(rows, np.asarray([[canonicalize.RIGHT, 0, 0], [canonicalize.LEFT, 0, 0]]))
    machine.act(rows, np.asarray([[canonicalize.UP, 0, 0], [canonicalize.DOWN, 0, 0]]))
    assert machine.outputs() == [{"azimuth": -180, "elevation": 60}, {"azimuth": 165, "elevation": 0}]
    image, target_az, target_el = machine.observe()[0]
    assert image == (5 * N_AZ + 0) * N_EL + N_EL - 1 and (target_az, target_el) == (AZIMUTHS.index(0), 0)


def test_random_problems_have_the_asked_length_and_start_in_the_papers_range():
    rng = np.random.default_rng(0)
    for size in range(MAX_SIZE + 1):
        for _ in range(20):
            p = CARS.sample(rng, size)
            assert CARS.size(p) == size and -75 <= p["azimuth"] <= 75 and p["model"] < 80
            assert CARS.parse(p) == p
    unseen = CARS.view("unseen")
    assert {unseen.sample(rng, 3)["model"] for _ in range(200)} <= set(range(80, 100))
    assert CARS.view("seen").models == CARS.models and CARS.models == tuple(range(80))
    with pytest.raises(ValueError, match=r"0\.\.16 camera moves"):
        CARS.sample(rng, MAX_SIZE + 1)
    with pytest.raises(ValueError, match="seen, unseen and all"):
        CARS.view("permuted")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": 100}, "car model 0..99"),
        ({"model": -1}, "car model 0..99"),
        ({"model": "3"}, "car model 0..99"),
        ({"azimuth": 10}, "not on the pose grid"),
        ({"elevation": 75}, "not on the pose grid"),
        ({"target_elevation": -15}, "not on the pose grid"),
        ({"target_azimuth": 1.5}, "integer number of degrees"),
        ({"azimuth": None}, "integer number of degrees"),
    ],
)
def test_bad_problems_are_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        CARS.parse({**problem(0, 0, 0, 15), **change})


def test_azimuth_180_is_the_same_camera_as_minus_180():
    assert CARS.parse(problem(180, 0, 0, 15))["azimuth"] == -180
    assert distance(AZIMUTHS.index(0), 0, AZIMUTHS.index(-180), 0) == N_AZ // 2


def test_the_cnn_encoder_reads_the_image_bank_and_refuses_a_wrong_one():
    config = NPIConfig(obs_sizes=((2 * 120, N_AZ, N_EL), (11, 11)), n_programs=8, images=(32, 0))
    model = NPI(config)
    obs = torch.tensor([[7, 3, 1], [200, 0, 4]])
    args = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="no image bank"):
        model.encode(0, obs, args)
    assert model.needs_images() == [0]
    with pytest.raises(ValueError, match="240 images of 32x32x3"):
        model.set_images(0, torch.zeros(240, 64, 64, 3, dtype=torch.uint8))
    bank = torch.randint(0, 256, (240, 32, 32, 3), dtype=torch.uint8)
    model.set_images(0, bank)
    assert model.needs_images() == []
    before = model.encode(0, obs, args)
    bank[7] = 0  # the encoder sees the pixels of the indexed image
    model.set_images(0, bank)
    after = model.encode(0, obs, args)
    assert not torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    assert "image_bank_0" not in model.state_dict()  # checkpoints do not carry the images


@pytest.mark.skipif(not PHYSICS, reason="the physics extra (mujoco) renders the cars")
def test_the_image_bank_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(canonicalize.CACHE_VARIABLE, str(tmp_path / "cache"))
    task = CarsTask("cars-tiny", 32, n_models=2, seen=1)
    bank = task.image_bank()
    assert bank.shape == (2 * 120, 32, 32, 3)
    machine = task.machine([problem(45, 30, 0, 15, model=1)])
    from neuralprog.envs.cars.render import render_model

    assert np.array_equal(bank[machine.observe()[0, 0]], render_model(1, 32)[AZIMUTHS.index(45), 2])


# A tiny cars task (32 x 32 images, 6 models of which 4 seen: rendered in seconds) to learn and run.
TINY_MODELS, TINY_SEEN = 6, 4


@pytest.fixture(scope="module")
def tiny_cars():
    if not PHYSICS:
        pytest.skip("the physics extra (mujoco) renders the cars")
    from neuralprog.registry import TASKS, register_task

    register_task(CarsTask("cars-tiny", 32, n_models=TINY_MODELS, seen=TINY_SEEN))
    yield TASKS["cars-tiny"]
    del TASKS["cars-tiny"]  # other tests list the library's own tasks


def tiny_preset(updates: int, seed: int = 0):
    """The `cars` recipe on the tiny task: 1-3 camera moves, 200 traces per length."""
    from neuralprog.presets import DataConfig, Preset, get_preset

    cars = get_preset("cars")
    assert isinstance(cars, Preset)
    return dataclasses.replace(
        cars,
        name="cars-tiny",
        task="cars-tiny",
        data=DataConfig(sizes=(1, 2, 3), per_size=200),
        train=dataclasses.replace(cars.train, updates=updates, validation_problems=16, seed=seed),
    )


@pytest.fixture(scope="module")
def tiny_cars_run(tiny_cars, tmp_path_factory):
    from neuralprog.train.supervised import train

    return train(tiny_preset(2), tmp_path_factory.mktemp("cars") / "run", progress=False, log=lambda _: None)


def test_solve_marks_bad_cars_lines_and_runs_the_rest(tiny_cars_run, tmp_path, capsys):
    from neuralprog.cli import main

    lines = [
        json.dumps(problem(45, 30, 0, 15, model=1)),
        json.dumps(problem(45, 30, 0, 15, model=TINY_MODELS)),  # no such model
        json.dumps(problem(40, 30, 0, 15)),  # not on the grid
        "{not json",
        json.dumps(problem(0, 15, 0, 15, model=5)),  # already there: GOTO has nothing to do
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["solve", str(tiny_cars_run), "--problems", str(src), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        "car model 0..5" in rows[1]["error"]
        and "pose grid" in rows[2]["error"]
        and "JSON" in rows[3]["error"]
    )
    for row in (rows[0], rows[4]):
        assert set(row["output"]) == {"azimuth", "elevation"} and {"halted", "correct", "steps"} <= set(row)


def test_trace_writes_the_frames_and_bad_problems_exit_2(tiny_cars_run, tmp_path, capsys):
    from PIL import Image

    from neuralprog.cli import main

    start = json.dumps(problem(45, 30, 0, 15, model=1))
    gif, strip = tmp_path / "run.gif", tmp_path / "run.png"
    assert main(["trace", str(tiny_cars_run), "--problem", start, "--oracle", "--frames", str(gif)]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == 1 + 4  # the start, then 3 moves left and 1 down
        assert image.size == (128, 128 + 40)
    assert main(["trace", str(tiny_cars_run), "--problem", start, "--frames", str(strip)]) == 0
    with Image.open(strip) as image:
        assert image.height % (128 + 40) == 0
    capsys.readouterr()
    for bad in (json.dumps(problem(45, 31, 0, 15)), json.dumps(problem(45, 30, 0, 15, model=99))):
        assert main(["trace", str(tiny_cars_run), "--problem", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err


def test_eval_splits_seen_and_unseen_models(tiny_cars_run, tmp_path, capsys):
    from neuralprog.cli import main

    for split in ("seen", "unseen"):
        out = tmp_path / f"{split}.json"
        code = main(
            ["eval", str(tiny_cars_run), "--lengths", "1,2", "--n", "4", "--split", split, "--json", str(out)]
        )
        assert code == 0 and len(json.loads(out.read_text())) == 2
    assert main(["eval", str(tiny_cars_run), "--lengths", "1", "--split", "permuted"]) == 2
    assert main(["eval", str(tiny_cars_run), "--lengths", "17"]) == 2  # no trajectory of 17 moves


def test_an_unwritable_or_bad_cache_and_a_bad_size_exit_2(tmp_path, monkeypatch, capsys):
    from neuralprog.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["render", "--size", "32", "--cache", str(blocker / "cars")]) == 2
    assert "cannot write the car cache" in capsys.readouterr().err
    assert main(["render", "--size", "32", "--cache", str(blocker)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["render", "--size", "48"]) == 2
    assert "not supported" in capsys.readouterr().err


@pytest.mark.slow
def test_npi_learns_the_pose_from_pixels_and_a_checkpoint_runs_the_same_after_reloading(tmp_path):
    """The `cars` recipe on a tiny task: 32 x 32 images of 2 seen car models, 1-3 camera moves to the
    paper's canonical view (azimuth 0, elevation 15). The observation holds nothing of the current pose
    but its image, so turning there from random starts means reading the pixels. Seeds 0-2 got every
    trajectory right by 450-500 updates (35 s on one thread of an Intel Xeon). A reloaded checkpoint,
    whose image bank comes from the cache again, runs exactly as the trained model."""
    if not PHYSICS:
        pytest.skip("the physics extra (mujoco) renders the cars")
    from neuralprog.execute import run
    from neuralprog.execute.common import check
    from neuralprog.families import load
    from neuralprog.presets import DataConfig, Preset, get_preset
    from neuralprog.registry import TASKS, register_task
    from neuralprog.train.supervised import build_model, train

    task = CarsTask("cars-canonical-tiny", 32, n_models=3, seen=2, target=(0, 15))
    cars = get_preset("cars")
    assert isinstance(cars, Preset)
    preset = dataclasses.replace(
        cars,
        name=task.name,
        task=task.name,
        data=DataConfig(sizes=(1, 2, 3), per_size=200),
        train=dataclasses.replace(cars.train, updates=800, eval_every=50, validation_problems=32),
    )
    register_task(task)
    try:
        initial = build_model(task, preset, preset.train.seed).image_encoders["0"].net[0].weight.clone()
        path = train(preset, tmp_path / "run", progress=False, log=lambda _: None)
        loaded = load(path)
        assert not torch.equal(loaded.model.image_encoders["0"].net[0].weight, initial)
        rng = np.random.default_rng(1)
        problems = [task.sample(rng, size) for size in (1, 2, 3) for _ in range(20)]
        assert {(p["target_azimuth"], p["target_elevation"]) for p in problems} == {(0, 15)}
        first = run(loaded.model, task, problems)
        assert check(task, problems, first).mean() >= 0.9
        again = run(load(path).model, task, problems)
        assert first.outputs == again.outputs and np.array_equal(first.steps, again.steps)
    finally:
        del TASKS[task.name]


def test_a_fixed_target_is_on_the_grid():
    with pytest.raises(ValueError, match="pose grid"):
        CarsTask("bad", 32, n_models=3, seen=2, target=(10, 15))
    task = CarsTask("front", 32, n_models=3, seen=2, target=(0, 0))
    with pytest.raises(ValueError, match=r"0\.\.9 camera moves"):  # 75 degrees and 60 to 0 at most
        task.sample(np.random.default_rng(0), 10)


def test_the_gymnasium_env_shows_the_image_and_the_target(tiny_cars):
    import gymnasium as gym

    env = gym.make("neuralprog/Canonicalize-v0", task=tiny_cars, render_mode="rgb_array")
    obs, info = env.reset(options=problem(45, 30, 30, 30, model=2))
    assert obs["image"].shape == (32, 32, 3) and obs["target"].tolist() == [AZIMUTHS.index(30), 2]
    assert not info["correct"]
    obs, _, _, _, info = env.step(canonicalize.LEFT)
    assert info["correct"] and info["output"] == {"azimuth": 30, "elevation": 30}
    assert np.array_equal(env.render(), obs["image"])
    obs, *_ = env.reset(seed=1, options={"steps": 3})
    assert env.observation_space.contains(obs)


def test_trace_page_shows_the_cameras_view_at_every_step(tiny_cars_run, tmp_path, browser):
    """`trace --html` of a cars run: the picture the camera takes before each step (stored once per
    distinct view), with its pose, equal to the oracle's replayed moves."""
    from helpers import open_trace_page

    from neuralprog.cli import main
    from neuralprog.registry import TASKS

    task = TASKS["cars-tiny"]
    start = problem(45, 30, 0, 15, model=1)
    path = tmp_path / "cars.html"
    args = ["trace", str(tiny_cars_run), "--problem", json.dumps(start), "--oracle", "--html", str(path)]
    assert main(args) == 0
    page, requests, errors = open_trace_page(browser, path)
    machine, parsed = task.machine([start]), task.parse(start)
    for step in record(task, parsed).steps:
        assert page.locator("#text").inner_text() == machine.render(0)
        assert page.locator("img#image").get_attribute("src").startswith("data:image/png;base64,")
        if step.next == "ACT":
            machine.act(np.zeros(1, dtype=np.int64), np.asarray([step.next_args]))
        page.keyboard.press("ArrowRight")
    assert page.locator("#text").inner_text() == machine.render(0)  # at the end: on the target
    assert machine.pose(0) == {"azimuth": 0, "elevation": 15}
    assert errors == [] and requests == [path.as_uri()]
    page.close()
