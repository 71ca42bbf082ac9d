"""The `ebm` command: every listed landscape draws, the demo stories run (quick), errors are clean."""

import subprocess
import sys

import pytest

from ebm.cli import main


def _names():
    import ebm.energies  # noqa: F401
    from ebm.data import TOY_DATASETS
    from ebm.registry import LANDSCAPES

    return list(LANDSCAPES) + list(TOY_DATASETS)


def test_list_prints_every_name_one_per_line(capsys):
    assert main(["landscape", "--list"]) == 0
    assert capsys.readouterr().out.split() == _names()


@pytest.mark.parametrize("name", _names())
def test_landscape_writes_png(name, tmp_path):
    out = tmp_path / f"{name}.png"
    assert main(["landscape", name, "--out", str(out), "--resolution", "40", "--samples", "50"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_unknown_landscape_is_a_clean_error(capsys):
    assert main(["landscape", "nope", "--out", "/tmp/x.png"]) == 2
    assert "ebm landscape --list" in capsys.readouterr().err


def test_demo_stories_run_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    pngs = list(tmp_path.rglob("*.png")) + list(tmp_path.rglob("*.gif"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    assert "demo finished" in out


def test_console_entry_help():
    result = subprocess.run([sys.executable, "-m", "ebm", "--help"], capture_output=True, text=True, check=True)
    assert "landscape" in result.stdout and "demo" in result.stdout and "train" in result.stdout
