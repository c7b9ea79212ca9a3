"""Environments. Importing this package registers every task and its Gymnasium env id."""

import gymnasium as gym

from neuralprog.envs.algorithmic import REWARD_THRESHOLDS
from neuralprog.envs.scratchpad import ADDITION, ADDITION_RECURSIVE, AdditionEnv
from neuralprog.envs.sorting import MAX, SORT, SORT_RECURSIVE, BubbleSortEnv
from neuralprog.envs.tapes import TAPE_TASKS
from neuralprog.multitask import MultiTask
from neuralprog.tasks import register_task

ENV_IDS = {
    "neuralprog/Addition-v0": "neuralprog.envs.scratchpad:AdditionEnv",
    "neuralprog/BubbleSort-v0": "neuralprog.envs.sorting:BubbleSortEnv",
}

for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point)
for _tape in TAPE_TASKS.values():  # the RL-NTM's tapes
    if _tape.env_id not in gym.registry:
        gym.register(
            id=_tape.env_id, entry_point="neuralprog.envs.tapes:TapeEnv", kwargs={"task": _tape.name}
        )
for _name, _threshold in REWARD_THRESHOLDS.items():  # Gym's classic algorithmic tasks
    if f"neuralprog/gym-{_name}-v0" not in gym.registry:
        gym.register(
            id=f"neuralprog/gym-{_name}-v0",
            entry_point="neuralprog.envs.algorithmic:AlgorithmicEnv",
            kwargs={"task": _name},
            reward_threshold=_threshold,
        )

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
