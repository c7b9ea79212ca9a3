"""NPI's car canonicalization: the procedural car models, their rendering and its cache."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("mujoco") is None:
    pytest.skip("the physics extra (mujoco) renders the cars", allow_module_level=True)

from neuralprog.envs.cars.models import N_MODELS, SEEN, car_models
from neuralprog.envs.cars.render import AZIMUTHS, ELEVATIONS, CarCache, render_model


def test_the_models_are_fixed_and_distinct():
    assert car_models() == car_models() and len(set(car_models())) == N_MODELS >= 100
    assert 0 < SEEN < N_MODELS


def test_rendering_is_deterministic_and_every_pose_looks_different():
    images = render_model(3, 32)
    assert images.shape == (len(AZIMUTHS), len(ELEVATIONS), 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, render_model(3, 32))  # same model and pose, same pixels
    flat = images.reshape(-1, 32 * 32 * 3).astype(np.int32)
    gaps = np.abs(flat[:, None] - flat[None]).sum(-1)
    np.fill_diagonal(gaps, 1)
    assert gaps.min() > 0  # no two poses give the same picture (front, back, left and right differ)
    assert not np.array_equal(images, render_model(4, 32))


@pytest.mark.parametrize(
    ("index", "size", "message"), [(N_MODELS, 64, "out of range"), (0, 50, "not supported")]
)
def test_bad_models_and_sizes_are_refused(index, size, message):
    with pytest.raises(ValueError, match=message):
        render_model(index, size)


def test_the_cache_renders_once_and_rebuilds_what_is_damaged(tmp_path):
    cache = CarCache(tmp_path / "cars", size=32, n_models=3)
    ticks = []
    assert cache.build(lambda done, total: ticks.append((done, total))) == 3
    assert ticks[-1] == (3, 3) and cache.missing() == [] and cache.build() == 0
    images = cache.load()
    assert images.shape[:3] == (3, len(AZIMUTHS), len(ELEVATIONS))
    damaged = cache._file(1)
    damaged.write_bytes(damaged.read_bytes()[:100])  # a partial file
    assert cache.missing() == [1]
    assert np.array_equal(cache.load(), images)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        CarCache(tmp_path / "file", size=32)
    with pytest.raises(ValueError, match="not supported"):
        CarCache(tmp_path / "cars", size=48)
