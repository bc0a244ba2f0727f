"""The fuzz suite's materials: made once per test run, read-only for the cases."""

from __future__ import annotations

import pytest
from fuzz_cases import Materials, make_materials


@pytest.fixture(scope="session")
def materials(tiny_tflite, tmp_path_factory) -> Materials:
    return make_materials(tmp_path_factory.mktemp("fuzz_materials"), tiny_tflite)
