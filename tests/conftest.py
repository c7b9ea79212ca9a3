import os

import pytest
import torch

# Small models are fastest single-threaded, and tests run alongside each other's subprocesses.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def addition():
    from neuralprog.tasks import get_task

    return get_task("addition")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One trained addition-tiny run shared by the tests that need a competent model."""
    from neuralprog.presets import get_preset
    from neuralprog.train.supervised import train

    out = tmp_path_factory.mktemp("tiny") / "run"
    path = train(get_preset("addition-tiny"), out, progress=False, log=lambda _: None)
    return path
