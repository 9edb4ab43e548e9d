"""Fixtures shared by the classifier test modules (imported by name into each module)."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.synthetic import make_cell_crop


@pytest.fixture(autouse=True)
def _one_thread():
    import torch  # heavy: only for the modules that use these fixtures

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def crops():
    """12 synthetic 48 px cell crops, alternating blast (label 0) and normal (label 1)."""
    imgs = [make_cell_crop(48, blast=i % 2 == 0, seed=i) for i in range(12)]
    return imgs, np.array([i % 2 for i in range(12)])
