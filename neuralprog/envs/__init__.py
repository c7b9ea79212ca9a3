"""Environments. Importing this package registers every task and its Gymnasium env id."""

import gymnasium as gym

from neuralprog.envs.scratchpad import ADDITION, ADDITION_RECURSIVE, AdditionEnv
from neuralprog.envs.sorting import MAX, SORT, SORT_RECURSIVE, BubbleSortEnv
from neuralprog.multitask import MultiTask
from neuralprog.tasks import register_task

ENV_IDS = {
    "neuralprog/Addition-v0": "neuralprog.envs.scratchpad:AdditionEnv",
    "neuralprog/BubbleSort-v0": "neuralprog.envs.sorting:BubbleSortEnv",
}

for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point)

MULTITASK = MultiTask("multitask", [ADDITION, SORT])
MULTITASK_MAX = MultiTask("multitask-max", [ADDITION, SORT, MAX])
"""The multitask model after `neuralprog extend --programs RJMP,MAX`."""
register_task(MULTITASK)
register_task(MULTITASK_MAX)

__all__ = [
    "ADDITION",
    "ADDITION_RECURSIVE",
    "ENV_IDS",
    "MAX",
    "MULTITASK",
    "MULTITASK_MAX",
    "SORT",
    "SORT_RECURSIVE",
    "AdditionEnv",
    "BubbleSortEnv",
]
