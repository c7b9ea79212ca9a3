"""The tabletop world of Neural Task Programming: the kinematic world (world.py), block stacking and
order fulfillment (tasks.py), the expert and its traces (experts.py), drawings (render.py) and the
Gymnasium envs (env.py)."""
