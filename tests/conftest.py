import os

# The learning tests repeat exactly only with the same float arithmetic, and torch and MKL pick their
# CPU kernels by the instruction set: on a CPU with AVX-512 the same seed trains another model (the
# tiny addition NPI then stopped short of perfect). Every test run uses the AVX2 kernels, which every
# x86-64 CPU of the last decade has (read when torch loads, so set before it is imported).
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("MKL_CBWR", "AVX2")

import pytest
import torch

# Small models are fastest single-threaded, and tests run alongside each other's subprocesses.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def addition():
    from neuralprog.registry import get_task

    return get_task("addition")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One trained addition-tiny run shared by the tests that need a competent model."""
    from neuralprog.presets import get_preset
    from neuralprog.train.supervised import train

    out = tmp_path_factory.mktemp("tiny") / "run"
    path = train(get_preset("addition-tiny"), out, progress=False, log=lambda _: None)
    return path
