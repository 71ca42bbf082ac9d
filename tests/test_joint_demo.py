"""The joint-embedding demo story runs (quick) and writes its three figures."""

import pytest
import torch


@pytest.mark.slow  # tests/test_cli.py already runs every story quickly; this one checks the figure files
def test_joint_demo_quick(tmp_path):
    from ebm.demos import STORIES, load_stories

    load_stories()
    paths = STORIES["joint"].run(tmp_path, torch.Generator().manual_seed(0), True)
    assert [p.name for p in paths] == ["joint_energy_matrix.png", "joint_collapse.png", "joint_landscapes.png"]
    assert all(p.exists() and p.stat().st_size > 10_000 for p in paths)
