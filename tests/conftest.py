import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from inductor_probe import use_light_probe  # noqa: E402

use_light_probe()

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_generate_tests(metafunc):
    # Every test taking `device` runs on the CPU and, when one is present, on the GPU.
    if "device" in metafunc.fixturenames:
        metafunc.parametrize(
            "device",
            [
                "cpu",
                pytest.param(
                    "cuda",
                    marks=pytest.mark.skipif(
                        not torch.cuda.is_available(), reason="needs a CUDA GPU"
                    ),
                ),
            ],
        )


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
