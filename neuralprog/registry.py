"""Every task of the library, listed in one place.

A task is looked up by the name that presets, traces and checkpoints carry. Nothing registers itself on
import: the built-in tasks are the list below, and a user's own task joins with `register_task`. Model
families are listed in `neuralprog.families`; Gymnasium ids in `neuralprog.envs`.
"""

from __future__ import annotations

from neuralprog.envs.cars.canonicalize import CARS, CARS_LARGE, CARS_SMALL
from neuralprog.envs.scratchpad import ADDITION, ADDITION_RECURSIVE
from neuralprog.envs.sorting import MAX, SORT, SORT_RECURSIVE
from neuralprog.envs.tabletop.tasks import BLOCK_STACKING, ORDER_FULFILLMENT, TabletopTask
from neuralprog.envs.tapes import COPY, DUPLICATED_INPUT, FORWARD_REVERSE, REPEAT_COPY, REVERSE, TapeTask
from neuralprog.multitask import MultiTask
from neuralprog.tasks import Task

AnyTask = Task | TapeTask | TabletopTask
"""A task with a program set (NPI family), a tape task (RL-NTM) or a tabletop task (NTP)."""

MULTITASK = MultiTask("multitask", [ADDITION, SORT])
MULTITASK_MAX = MultiTask("multitask-max", [ADDITION, SORT, MAX])
"""The multitask model after `neuralprog extend --programs RJMP,MAX`."""
MULTITASK_CARS = MultiTask("multitask-cars", [ADDITION, SORT, CARS])
"""NPI's Table 1: one core and program memory for addition, sorting and canonicalization."""
MULTITASK_CARS_MAX = MultiTask("multitask-cars-max", [ADDITION, SORT, CARS, MAX])
"""That model after `neuralprog extend --programs RJMP,MAX`."""

TASKS: dict[str, AnyTask] = {
    t.name: t
    for t in (
        # NPI (Reed & de Freitas 2015) and its recursive form (Cai et al. 2017)
        ADDITION,
        ADDITION_RECURSIVE,
        SORT,
        SORT_RECURSIVE,
        MAX,
        CARS,
        CARS_SMALL,
        CARS_LARGE,
        MULTITASK,
        MULTITASK_MAX,
        MULTITASK_CARS,
        MULTITASK_CARS_MAX,
        # RL-NTM (Zaremba & Sutskever 2015)
        COPY,
        DUPLICATED_INPUT,
        REVERSE,
        REPEAT_COPY,
        FORWARD_REVERSE,
        # NTP (Xu et al. 2018)
        BLOCK_STACKING,
        ORDER_FULFILLMENT,
    )
}


def register_task(task: AnyTask) -> None:
    """Add a task of your own (a name already taken is refused)."""
    if task.name in TASKS and TASKS[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} exists already")
    TASKS[task.name] = task


def get_task(name: str) -> AnyTask:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def program_task(name: str) -> Task:
    """A task whose problems are solved by calling programs (the NPI family's)."""
    task = get_task(name)
    if isinstance(task, TapeTask):
        raise ValueError(f"{name!r} is a tape task (RL-NTM), which has no programs")
    if isinstance(task, TabletopTask):
        raise ValueError(f"{name!r} is a tabletop task: NTP models run it, from demonstrations")
    return task


def program_tasks() -> list[Task]:
    """Every task whose problems are solved by calling programs with NPI."""
    return [t for t in TASKS.values() if not isinstance(t, TapeTask | TabletopTask)]


def tape_tasks() -> list[TapeTask]:
    """The RL-NTM's tape tasks."""
    return [t for t in TASKS.values() if isinstance(t, TapeTask)]


def tape_task(name: str) -> TapeTask:
    """One of the RL-NTM's tape tasks."""
    task = get_task(name)
    if not isinstance(task, TapeTask):
        tapes = ", ".join(t.name for t in tape_tasks())
        raise ValueError(f"unknown tape task {name!r}; known: {tapes}")
    return task


def tabletop_tasks() -> list[TabletopTask]:
    """The NTP family's tabletop tasks."""
    return [t for t in TASKS.values() if isinstance(t, TabletopTask)]


def tabletop_task(name: str) -> TabletopTask:
    """One of the NTP family's tabletop tasks."""
    task = get_task(name)
    if not isinstance(task, TabletopTask):
        known = ", ".join(t.name for t in tabletop_tasks())
        raise ValueError(f"unknown tabletop task {name!r}; known: {known}")
    return task
