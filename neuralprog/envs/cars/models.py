"""Procedural 3D car models for NPI's canonicalization task (Reed & de Freitas 2015, section 4.3).

The paper rendered car CAD models; those cannot be downloaded here, so the library makes its own from
box, cylinder and ellipsoid geoms: a body, a cabin set towards the back, four wheels, white headlights
and a dark grille at the front, red tail lights at the back, and, per model, a spoiler, a roof rack, a
stripe along one side and a side mirror on one side. Proportions and colours vary, front and back always
differ, and the one-sided details make left differ from right, so the camera's pose can be read off the
pixels. A fixed generator makes the same models everywhere; the first `SEEN` are the models trained
on, the rest are held out.

The car's front points along +x, its left along +y; it stands on a round grey ground (round, so that
the ground's edge tells nothing of the camera's azimuth).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import cache

import numpy as np

N_MODELS = 100
"""Distinct car models."""
SEEN = 80
"""Models 0..SEEN-1 are seen in training; the others are unseen."""


@dataclass(frozen=True)
class Car:
    """One car model's shape and colours (metres, RGB in 0..1)."""

    length: float
    width: float
    body_height: float
    cabin_length: float
    cabin_height: float
    cabin_back: float
    """How far the cabin sits behind the body's middle."""
    wheel_radius: float
    colour: tuple[float, float, float]
    cabin_colour: tuple[float, float, float]
    spoiler: bool
    roof_rack: bool
    stripe_left: bool
    """The side stripe is on the left (+y) side, else on the right."""
    mirror_left: bool


def _rgb(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (round(r, 3), round(g, 3), round(b, 3))


@cache
def car_models() -> tuple[Car, ...]:
    """The N_MODELS car models, always the same."""
    rng = np.random.default_rng(1503)
    cars = []
    for _ in range(N_MODELS):
        length = rng.uniform(3.6, 4.8)
        hue = rng.uniform()
        cars.append(
            Car(
                length=round(length, 3),
                width=round(rng.uniform(1.6, 2.0), 3),
                body_height=round(rng.uniform(0.55, 0.85), 3),
                cabin_length=round(length * rng.uniform(0.35, 0.55), 3),
                cabin_height=round(rng.uniform(0.45, 0.7), 3),
                cabin_back=round(length * rng.uniform(0.05, 0.18), 3),
                wheel_radius=round(rng.uniform(0.3, 0.42), 3),
                colour=_rgb(hue, rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.9)),
                cabin_colour=_rgb(hue + 0.5, 0.25, rng.uniform(0.25, 0.45)),
                spoiler=bool(rng.uniform() < 0.5),
                roof_rack=bool(rng.uniform() < 0.3),
                stripe_left=bool(rng.uniform() < 0.5),
                mirror_left=bool(rng.uniform() < 0.5),
            )
        )
    return tuple(cars)


def _geom(
    kind: str,
    size: tuple[float, ...],
    pos: tuple[float, float, float],
    rgb: tuple[float, ...],
    extra: str = "",
) -> str:
    size_text = " ".join(f"{v:.3f}" for v in size)
    pos_text = " ".join(f"{v:.3f}" for v in pos)
    rgba = " ".join(f"{v:.3f}" for v in rgb) + " 1"
    return f'<geom type="{kind}" size="{size_text}" pos="{pos_text}" rgba="{rgba}" {extra}/>'


def scene_xml(car: Car) -> str:
    """The MJCF of one car on its ground plane (rendered only: nothing moves)."""
    half_l, half_w = car.length / 2, car.width / 2
    base = car.wheel_radius * 0.9
    top = base + car.body_height
    geoms = [
        _geom("box", (half_l, half_w, car.body_height / 2), (0, 0, base + car.body_height / 2), car.colour),
        _geom(
            "box",
            (car.cabin_length / 2, half_w * 0.85, car.cabin_height / 2),
            (-car.cabin_back, 0, top + car.cabin_height / 2),
            car.cabin_colour,
        ),
        _geom(
            "box",
            (0.03, half_w * 0.5, car.body_height * 0.2),
            (half_l, 0, base + car.body_height * 0.4),
            (0.1, 0.1, 0.1),
        ),
    ]
    wheelbase = car.length * 0.32
    for x in (-wheelbase, wheelbase):
        for y in (-half_w * 0.9, half_w * 0.9):
            geoms.append(
                _geom(
                    "cylinder",
                    (car.wheel_radius, 0.12),
                    (x, y, car.wheel_radius),
                    (0.08, 0.08, 0.08),
                    'euler="90 0 0"',
                )
            )
    for y in (-half_w * 0.65, half_w * 0.65):
        geoms.append(_geom("box", (0.04, 0.16, 0.07), (half_l, y, top - 0.12), (1.0, 0.97, 0.8)))
        geoms.append(_geom("box", (0.04, 0.15, 0.06), (-half_l, y, top - 0.12), (0.85, 0.05, 0.05)))
    side = 1 if car.stripe_left else -1
    geoms.append(
        _geom(
            "box",
            (half_l * 0.8, 0.02, 0.05),
            (0, side * half_w, base + car.body_height * 0.55),
            (0.95, 0.95, 0.95),
        )
    )
    side = 1 if car.mirror_left else -1
    geoms.append(
        _geom(
            "ellipsoid",
            (0.08, 0.12, 0.06),
            (car.cabin_length / 2 - car.cabin_back, side * (half_w + 0.1), top + 0.1),
            car.colour,
        )
    )
    if car.spoiler:
        geoms.append(_geom("box", (0.15, half_w * 0.9, 0.03), (-half_l + 0.15, 0, top + 0.22), car.colour))
        for y in (-half_w * 0.6, half_w * 0.6):
            geoms.append(_geom("box", (0.03, 0.03, 0.1), (-half_l + 0.15, y, top + 0.1), (0.1, 0.1, 0.1)))
    if car.roof_rack:
        roof = top + car.cabin_height
        for y in (-half_w * 0.6, half_w * 0.6):
            geoms.append(
                _geom(
                    "box",
                    (car.cabin_length * 0.45, 0.03, 0.03),
                    (-car.cabin_back, y, roof + 0.04),
                    (0.2, 0.2, 0.2),
                )
            )
    return f"""<mujoco model="car">
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0.1 0.1 0.1"/>
    <global offwidth="256" offheight="256" fovy="40"/>
  </visual>
  <worldbody>
    <light pos="2 -3 8" dir="-0.2 0.3 -1" diffuse="0.5 0.5 0.5" castshadow="false"/>
    <geom type="cylinder" size="12 0.01" pos="0 0 -0.01" rgba="0.55 0.57 0.6 1"/>
    {"".join(geoms)}
  </worldbody>
</mujoco>"""
