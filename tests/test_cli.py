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


# ---------------------------------------------------------------------------- every argument, validated first


def _run(argv, capsys):
    """Run `ebm ARGV` in-process; return (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's exits
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


BAD = {
    # landscape
    "landscape-unknown-name": ["landscape", "nope"],
    "landscape-resolution-1": ["landscape", "banana", "--resolution", "1"],
    "landscape-resolution-text": ["landscape", "banana", "--resolution", "many"],
    "landscape-samples-negative": ["landscape", "banana", "--samples", "-1"],
    "landscape-seed-negative": ["landscape", "banana", "--seed", "-1"],
    "landscape-kind": ["landscape", "banana", "--kind", "heat"],
    "landscape-out-through-a-file": ["landscape", "banana", "--out", "{file}/x.png"],
    "landscape-out-unwritable": ["landscape", "banana", "--out", "/proc/nope/x.png"],
    "landscape-out-suffix": ["landscape", "banana", "--out", "{tmp}/x.notanimage"],
    # demo
    "demo-unknown-story": ["demo", "nostory", "--out", "{tmp}/run"],
    "demo-unknown-only": ["demo", "--only", "nostory", "--out", "{tmp}/run"],
    "demo-out-is-a-file": ["demo", "--out", "{file}"],
    "demo-out-through-a-file": ["demo", "--out", "{file}/sub"],
    "demo-out-unwritable": ["demo", "--out", "/proc/nope"],
    "demo-seed": ["demo", "--seed", "x", "--out", "{tmp}/run"],
    # train
    "train-no-model": ["train"],
    "train-unknown-model": ["train", "nope"],
    "rbm-hidden-0": ["train", "rbm", "--hidden", "0", "--out", "{tmp}/run"],
    "rbm-k-0": ["train", "rbm", "--k", "0", "--out", "{tmp}/run"],
    "rbm-epochs-0": ["train", "rbm", "--epochs", "0", "--out", "{tmp}/run"],
    "rbm-batch-size-0": ["train", "rbm", "--batch-size", "0", "--out", "{tmp}/run"],
    "rbm-lr-0": ["train", "rbm", "--lr", "0", "--out", "{tmp}/run"],
    "rbm-lr-nan": ["train", "rbm", "--lr", "nan", "--out", "{tmp}/run"],
    "rbm-chains-0": ["train", "rbm", "--chains", "0", "--out", "{tmp}/run"],
    "rbm-ais-chains-1": ["train", "rbm", "--ais-chains", "1", "--out", "{tmp}/run"],
    "rbm-ais-betas-1": ["train", "rbm", "--ais-betas", "1", "--out", "{tmp}/run"],
    "rbm-data": ["train", "rbm", "--data", "mnist", "--out", "{tmp}/run"],
    "rbm-method": ["train", "rbm", "--method", "sgd", "--out", "{tmp}/run"],
    "rbm-exact-too-large": ["train", "rbm", "--method", "exact", "--hidden", "64", "--out", "{tmp}/run"],
    "rbm-seed": ["train", "rbm", "--seed", "-3", "--out", "{tmp}/run"],
    "rbm-threads-0": ["train", "rbm", "--threads", "0", "--out", "{tmp}/run"],
    "rbm-out-is-a-file": ["train", "rbm", "--out", "{file}"],
    "rbm-out-unwritable": ["train", "rbm", "--out", "/proc/nope"],
    "latent-dim-0": ["train", "latent_prior", "--latent-dim", "0", "--out", "{tmp}/run"],
    "latent-sigma-0": ["train", "latent_prior", "--sigma", "0", "--out", "{tmp}/run"],
    "latent-sigma-negative": ["train", "latent_prior", "--sigma", "-1", "--out", "{tmp}/run"],
    "latent-epochs-0": ["train", "latent_prior", "--epochs", "0", "--out", "{tmp}/run"],
    "latent-lr-inf": ["train", "latent_prior", "--lr", "inf", "--out", "{tmp}/run"],
    "latent-prior-steps-0": ["train", "latent_prior", "--prior-steps", "0", "--out", "{tmp}/run"],
    "latent-posterior-steps-0": ["train", "latent_prior", "--posterior-steps", "0", "--out", "{tmp}/run"],
    "latent-data": ["train", "latent_prior", "--data", "nope", "--out", "{tmp}/run"],
    "latent-out-through-a-file": ["train", "latent_prior", "--out", "{file}/run"],
    # the command itself
    "unknown-command": ["nope"],
    "unknown-option": ["--bogus"],
}


@pytest.mark.parametrize("argv", list(BAD.values()), ids=list(BAD))
def test_every_bad_argument_is_one_line_before_any_work(argv, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    argv = [a.format(tmp=tmp_path, file=tmp_path / "file") for a in argv]
    code, out, err = _run(argv, capsys)
    assert code not in (0, None), (argv, code)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ebm"), err
    assert not (tmp_path / "run").exists()  # nothing started: no output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _options(parser):
    """(command, action) for every option of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for command, a in _options(sub):
                    yield f"{name} {command}".strip(), a
        elif action.option_strings and action.dest not in ("help", "version"):
            yield "", action


def test_every_option_has_help_and_shows_its_default():
    from ebm.cli import build_parser

    parser = build_parser()
    seen = set()
    for command, action in _options(parser):
        assert action.help and len(action.help) > 8, (command, action.option_strings)
        seen.add((command, action.option_strings[0]))
        if action.default is not None and action.default is not False:
            sub = parser
            for word in command.split():
                sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
            assert f"(default: {action.default})" in " ".join(sub.format_help().split()), (command, action.option_strings)
        else:
            assert "default" in action.help or action.nargs == 0, (command, action.option_strings)
    assert {("train rbm", "--epochs"), ("train rbm", "--seed"), ("train rbm", "--k"), ("train latent_prior", "--latent-dim")} <= seen


def test_landscape_out_folder_writes_and_prints_name_png(tmp_path, capsys):
    code, out, _ = _run(["landscape", "banana", "--out", str(tmp_path), "--resolution", "20"], capsys)
    assert code == 0 and out.strip() == str(tmp_path / "banana.png") and (tmp_path / "banana.png").exists()
    code, out, _ = _run(["landscape", "banana", "--out", str(tmp_path / "new") + "/", "--resolution", "20"], capsys)
    assert code == 0 and out.strip() == str(tmp_path / "new" / "banana.png") and (tmp_path / "new" / "banana.png").exists()
    code, out, _ = _run(["landscape", "banana", "--out", str(tmp_path / "plain"), "--resolution", "20"], capsys)
    assert code == 0 and out.strip() == str(tmp_path / "plain.png") and (tmp_path / "plain.png").exists()


def test_rbm_recipe_announces_and_records_the_final_ais(tmp_path, capsys):
    """A digits RBM with > 20 hidden units ends with AIS: its cost is announced and its settings recorded."""
    import json

    code, out, err = _run(["train", "rbm", "--threads", "1", "--hidden", "21", "--epochs", "1", "--ais-betas", "20", "--ais-chains", "4", "--chains", "16",
                           "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert "final AIS estimate of log Z: 20 temperatures x 4 chains" in out
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result["ais"]["n_betas"] == 20 and result["ais"]["n_chains"] == 4 and result["ais"]["seconds"] >= 0


def test_bad_argument_in_a_real_process_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ebm", "train", "latent_prior", "--latent-dim", "0", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--latent-dim: expected an integer >= 1, found 0" in result.stderr and not (tmp_path / "run").exists()
