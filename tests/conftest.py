"""Shared fixtures: the models every stage's tests need, made once per test run, small."""

from __future__ import annotations

import os

import pytest

# Tests never download: a missing data set must fail loudly, not fetch from the network.
os.environ.setdefault("EDGECNN_OFFLINE", "1")
