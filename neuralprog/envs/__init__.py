"""Environments. Importing this package registers every task and its Gymnasium env id."""

import gymnasium as gym

from neuralprog.envs.scratchpad import ADDITION, AdditionEnv

ENV_IDS = {"neuralprog/Addition-v0": "neuralprog.envs.scratchpad:AdditionEnv"}

for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point)

__all__ = ["ADDITION", "ENV_IDS", "AdditionEnv"]
