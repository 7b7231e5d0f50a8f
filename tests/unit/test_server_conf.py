"""The settings a new embedded cluster gets, sized to the machine."""

from __future__ import annotations

import pytest

from recdb.warehouse.server import server_conf, shared_buffers_mb

GIB = 2**30


@pytest.mark.parametrize(
    ("memory_gib", "expected_mb"),
    [(0.25, 128), (1, 256), (8, 2048), (16, 4096), (24, 4096), (512, 4096)],
)
def test_shared_buffers_are_a_quarter_of_memory_within_bounds(memory_gib, expected_mb):
    assert shared_buffers_mb(int(memory_gib * GIB)) == expected_mb


def test_the_conf_sets_shared_buffers_once_and_spaces_checkpoints():
    conf = server_conf(8 * GIB)
    settings = [line.split(" = ")[0] for line in conf.splitlines() if " = " in line]
    assert settings.count("shared_buffers") == 1
    assert "shared_buffers = '2048MB'" in conf
    assert {"max_wal_size", "checkpoint_timeout", "wal_compression"} <= set(settings)
