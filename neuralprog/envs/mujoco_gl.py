"""MuJoCo for the environments that simulate or render with it (an optional dependency, the `physics`
extra): imported only when needed, with a headless OpenGL backend chosen when there is no display."""

from __future__ import annotations

import os
from typing import Any


class PhysicsUnavailable(RuntimeError):
    """MuJoCo is not installed, or it cannot open an OpenGL context to render."""


def import_mujoco() -> Any:
    """The mujoco module; MUJOCO_GL=egl when unset and there is no display."""
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"  # must be set before mujoco is imported
    try:
        import mujoco
    except ImportError:
        raise PhysicsUnavailable("this needs MuJoCo: pip install 'neuralprog[physics]'") from None
    except Exception as e:  # MuJoCo loads its OpenGL backend (MUJOCO_GL) when it is imported
        raise PhysicsUnavailable(gl_error(e)) from None
    return mujoco


def gl_error(e: Exception) -> str:
    """The one-line message for an OpenGL backend that cannot be loaded."""
    backend = os.environ.get("MUJOCO_GL", "(unset)")
    return (
        f"MuJoCo cannot render with MUJOCO_GL={backend} ({' '.join(str(e).split())}); "
        "set MUJOCO_GL to egl, osmesa or glfw"
    )


def renderer(model: Any, height: int, width: int) -> Any:
    """An offscreen mujoco.Renderer, or PhysicsUnavailable with the reason."""
    mujoco = import_mujoco()
    try:
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as e:  # MuJoCo raises several kinds when no GL backend loads
        raise PhysicsUnavailable(gl_error(e)) from None
