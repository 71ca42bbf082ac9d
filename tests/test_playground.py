"""`ebm playground`: the scene checks, the scenes over the library, and the server with an ASGI test client.

Exact answers first (Gray-code round trips, the RBM's grid log Z against its enumerated log Z, the
quality number of a known Gaussian against its closed form), then every model × principle and every
landscape × sampler building and advancing, then the server's messages, faults and limits.
"""

from __future__ import annotations

import base64
import itertools
import math
import os
import time
import warnings

import pytest
import torch

from ebm.playground.catalogue import DEFAULTS, KNOBS, MODELS, SceneError, validate_scene
from ebm.playground.scene import GridCodedRBM, Scene

pytest.importorskip("starlette", reason="the playground extra is missing: pip install 'ebm-playground[playground]'")
pytest.importorskip("httpx", reason="Starlette's test client needs httpx: pip install -e '.[dev]'")

with warnings.catch_warnings():  # Starlette >= 1.0 prefers httpx2 but still supports httpx; the tests use either
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from ebm.playground.server import create_app  # noqa: E402


# ---------------------------------------------------------------------------------------------- catalogue
def test_defaults_validate_and_url_strings_become_numbers():
    assert validate_scene({}) == DEFAULTS
    scene = validate_scene({"lr": "0.01", "chains": "32", "model": "kmeans"})
    assert scene["lr"] == 0.01 and scene["chains"] == 32 and isinstance(scene["chains"], int)
    assert scene["principle"] == "free_energy"  # a new model brings its default principle


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"nope": 1}, "unknown name"),
        ({"lr": 1e9}, "lr: expected a number in"),
        ({"lr": float("nan")}, "lr"),
        ({"chains": 2.5}, "an integer"),
        ({"chains": True}, "chains"),
        ({"chains": [1]}, "chains"),
        ({"model": "transformer"}, "model: expected one of"),
        ({"target": "../../etc/passwd"}, "target"),
        ({"model": "kmeans", "principle": "dsm"}, "fits the model"),
        ("mode=train", "settings: expected an object"),
    ],
)
def test_bad_settings_are_refused_with_the_house_message(settings, fragment):
    with pytest.raises(SceneError, match="Fix:") as err:
        validate_scene(settings)
    assert fragment in str(err.value)


# ---------------------------------------------------------------------------------------------- exact answers
@pytest.mark.parametrize("bits", [2, 3, 5])
def test_grid_code_round_trip_and_gray_neighbours(bits):
    from ebm.energies import BernoulliRBM

    view = GridCodedRBM(BernoulliRBM(2 * bits, 3), bits, ((-4.5, 4.5), (-4.5, 4.5)))
    side = 2**bits
    cells = torch.tensor(list(itertools.product(range(side), range(side))))  # (side², 2)
    centres = -4.5 + (cells.double() + 0.5) * 9 / side  # (side², 2)
    codes = view.encode(centres)
    assert torch.equal(view.cells(centres), cells)
    assert torch.allclose(view.decode(codes).double(), centres, atol=1e-6)
    assert len({tuple(c) for c in codes.tolist()}) == side * side  # a bijection onto the 2^(2 bits) states
    right = view.encode(centres + torch.tensor([9 / side, 0.0], dtype=torch.float64))
    inside = cells[:, 0] < side - 1
    assert torch.equal((codes != right).sum(1)[inside], torch.ones(int(inside.sum()), dtype=torch.long))  # Gray code


def test_rbm_grid_log_partition_equals_enumerated_log_partition():
    """The drawn landscape is piecewise constant on cells: its quadrature log Z is the RBM's exact log Z + log cell area."""
    from ebm.energies import BernoulliRBM
    from ebm.grid import grid_log_partition

    g = torch.Generator().manual_seed(0)
    rbm = BernoulliRBM(8, 5, weight_scale=1.0, generator=g).double()
    view = GridCodedRBM(rbm, 4, ((-4.5, 4.5), (-4.5, 4.5)))
    with torch.no_grad():
        quad = grid_log_partition(view, view.bounds, 16)
        exact = rbm.log_partition() + math.log(81 / 256)
    assert float(quad) == pytest.approx(float(exact), abs=1e-9)


def test_quality_is_the_closed_form_log_likelihood_of_a_known_gaussian():
    """k-means with one centre c has E = ‖x - c‖², a Gaussian with variance ½: log p(x) = -‖x - c‖² - log π."""
    from ebm.energies import KMeansEnergy

    scene = Scene(validate_scene({"model": "kmeans", "components": 1, "data": "8gaussians"}))
    scene.model = KMeansEnergy(torch.tensor([[0.3, -0.2]]))
    scene.grid_version += 1
    _, log_z = scene.grid()
    expected = float(-((scene.held_out - torch.tensor([0.3, -0.2])) ** 2).sum(1).mean() - math.log(math.pi))
    # Midpoint rule with 64 cells over [-4.5, 4.5]² on a Gaussian of s.d. 0.71: error far below 1e-4.
    assert scene.quality(log_z)["loglik"] == pytest.approx(expected, abs=1e-4)


# ---------------------------------------------------------------------------------------------- every scene
PAIRS = [(m, p) for m, (_, principles) in MODELS.items() for p in principles]


@pytest.mark.parametrize("model, principle", PAIRS)
def test_every_model_and_principle_trains_and_draws(model, principle):
    settings = {"model": model, "principle": principle, "steps": 2, "chains": 8, "components": 3}
    if model == "sparse_coding":
        settings["batch"] = 32
    scene = Scene(validate_scene(settings))
    before = scene.frame(include_data=True)
    scene.advance()
    scene.advance()
    frame = scene.frame()
    side = 2 ** scene.settings["bits"] if model == "rbm" else 64
    values = torch.frombuffer(bytearray(base64.b64decode(frame["grid"]["data"])), dtype=torch.float32)
    assert values.numel() == side * side and bool(torch.isfinite(values).all())
    assert len(frame["chains"]) == 8 and len(before["data"]) == 600
    assert frame["losses"] and all(math.isfinite(v) for v in frame["losses"])
    assert math.isfinite(frame["quality"]["loglik"])


def test_every_landscape_and_sampler_samples():
    import ebm.energies  # noqa: F401
    from ebm.registry import LANDSCAPES

    for target, sampler in itertools.product(LANDSCAPES, ("ula", "mala", "hmc", "nuts", "underdamped", "svgd")):
        scene = Scene(validate_scene({"mode": "sample", "target": target, "sampler": sampler, "step_size": 0.01, "chains": 8, "leapfrog": 3}))
        start = scene.chains.clone()
        for _ in range(8):
            scene.advance()
        frame = scene.frame()
        assert "grid" in frame and not torch.equal(scene.chains, start), (target, sampler)
        no_accept_step = sampler in ("ula", "underdamped", "svgd")
        assert "ess" in frame["quality"] and no_accept_step == ("acceptance" not in frame["quality"])


def test_drawn_data_waits_for_points_then_trains():
    scene = Scene(validate_scene({"data": "drawn", "model": "kmeans", "components": 2}))
    frame = scene.frame()
    assert "grid" not in frame and "click" in frame["status"]
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    scene = Scene(scene.settings, points)
    scene.advance()
    assert "grid" in scene.frame() and scene.data.shape == (3, 2)


def test_temperature_flattens_the_sampled_landscape():
    cold = Scene(validate_scene({"mode": "sample", "target": "double_well"}))
    hot = Scene(validate_scene({"mode": "sample", "target": "double_well", "temperature": 4.0}))
    assert torch.allclose(hot.grid()[0] * 4.0, cold.grid()[0], rtol=1e-5, atol=1e-4)


def test_live_knobs_update_without_a_rebuild():
    scene = Scene(validate_scene({"model": "mlp", "principle": "nce"}))
    weights = scene.model.net[0].weight.detach().clone()
    scene.update({"lr": 0.05, "chains": 5, "sampler": "hmc"})
    assert scene.optimizer.param_groups[0]["lr"] == 0.05 and scene.chains.shape == (5, 2)
    assert torch.equal(scene.model.net[0].weight, weights)


# ---------------------------------------------------------------------------------------------- the server
@pytest.fixture
def client():
    app = create_app(max_sessions=2, max_fps=20)
    with TestClient(app) as c:
        yield c


def _until(ws, predicate, limit: int = 400):
    """Read messages until one satisfies ``predicate``; returns it (frames in between are skipped)."""
    for _ in range(limit):
        message = ws.receive_json()
        if predicate(message):
            return message
    raise AssertionError("the expected message never came")


def test_page_and_static_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for name in ("app.js", "style.css", "icon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "http://" not in client.get("/static/app.js").text and "https://" not in page.text  # nothing from the internet
    knobs = client.get("/api/catalogue").json()["knobs"]
    assert set(knobs) == set(KNOBS)


def test_no_endpoint_writes_or_escapes_the_package(client):
    assert client.post("/", content=b"x").status_code == 405
    assert client.put("/static/app.js", content=b"x").status_code == 405
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/static/%2e%2e/server.py").status_code == 404


def test_a_session_streams_frames_and_training_lowers_the_loss(client):
    with client.websocket_connect("/ws") as ws:
        first = _until(ws, lambda m: m["type"] == "frame")
        assert "grid" in first and first["step"] == 0
        ws.send_json({"type": "settings", "settings": {"model": "autoencoder", "principle": "reconstruction", "steps": 10}})
        _until(ws, lambda m: m["type"] == "state")
        losses = []
        for _ in range(6):
            ws.send_json({"type": "step"})
            losses += _until(ws, lambda m: m["type"] == "frame" and m["losses"])["losses"]
        assert len(losses) >= 40 and sum(losses[-10:]) < sum(losses[:10])  # reconstruction error falls at once


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"type": "hack"}', '{"type": "settings", "settings": {"lr": "x"}}', '{"type": "run", "on": "yes"}',
     '{"type": "points", "points": [[0, 99]]}', '{"type": "points", "points": "all"}', '{"type": "export", "kind": "svg"}',
     '{"type": "settings", "settings": {"__class__": 1}}'],
)
def test_malformed_messages_get_an_error_reply_and_the_session_lives(client, raw):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(raw)
        error = _until(ws, lambda m: m["type"] == "error")
        assert "expected" in error["message"] and "Fix:" in error["message"]
        ws.send_json({"type": "ping", "t": 1})
        assert _until(ws, lambda m: m["type"] == "pong")["t"] == 1


def test_binary_and_oversized_messages_are_refused(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x80\x04pickle")
        assert "binary" in _until(ws, lambda m: m["type"] == "error")["message"]
        ws.send_text('{"type": "points", "points": [' + ",".join(["[0.1, 0.1]"] * 120000) + "]}")
        assert "at most" in _until(ws, lambda m: m["type"] == "error")["message"]
        ws.send_json({"type": "ping"})
        _until(ws, lambda m: m["type"] == "pong")


def test_a_diverging_run_shows_the_library_message_and_the_session_survives(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "settings", "settings": {"optimizer": "sgd", "lr": 100.0, "principle": "sm"}})
        ws.send_json({"type": "run", "on": True})
        error = _until(ws, lambda m: m["type"] == "error")
        assert "Training stopped rather than hide it" in error["message"] or "non-finite" in error["message"]
        assert "rebuilt" in error["message"]
        state = _until(ws, lambda m: m["type"] == "state" and not m["running"])
        assert state["settings"]["lr"] == 100.0
        ws.send_json({"type": "settings", "settings": {"lr": 0.001}})
        ws.send_json({"type": "step"})
        frame = _until(ws, lambda m: m["type"] == "frame" and m["losses"])
        assert all(math.isfinite(v) for v in frame["losses"])


def test_a_diverging_sampler_restarts_its_chains(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "settings", "settings": {"mode": "sample", "target": "banana", "sampler": "ula", "step_size": 2.0}})
        ws.send_json({"type": "run", "on": True})
        error = _until(ws, lambda m: m["type"] == "error")
        assert "diverged" in error["message"] and "step_size" in error["message"] and "restarted" in error["message"]
        ws.send_json({"type": "ping"})
        _until(ws, lambda m: m["type"] == "pong")


def test_closing_the_tab_frees_the_session_and_the_cap_is_enforced(client):
    manager = client.app.state.manager
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        _until(a, lambda m: m["type"] == "frame")
        _until(b, lambda m: m["type"] == "frame")
        assert client.get("/api/health").json() == {"sessions": 2, "max_sessions": 2}
        with client.websocket_connect("/ws") as c:
            assert "full" in c.receive_json()["message"]
        threads = [s.thread for s in manager._sessions.values()]
    deadline = time.monotonic() + 10
    while manager.count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.count == 0
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()


def test_another_sites_page_cannot_open_a_session(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "frame"


def test_export_returns_a_png_drawn_by_ebm_plot_and_leaves_no_file(client):
    export_dir = client.app.state.manager.export_dir
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "export", "kind": "density", "log": True, "score": True})
        reply = _until(ws, lambda m: m["type"] == "export")
    png = base64.b64decode(reply["png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    assert os.listdir(export_dir) == []


def test_a_dropped_frame_carries_its_grid_only_into_a_frame_of_the_same_build():
    """A slow page drops frames; the grid of a dropped frame must not leak into a new scene's frame."""
    import asyncio

    from ebm.playground.server import _Outbox

    loop = asyncio.new_event_loop()
    try:
        box = _Outbox(loop)
        box._put({"type": "frame", "scene": 1, "grid": "old", "data": [[0, 0]], "losses": [1.0]})
        box._put({"type": "frame", "scene": 1, "losses": [0.5]})  # same build: keeps what the page needs
        same = box.take()[-1]
        assert same["grid"] == "old" and same["data"] == [[0, 0]] and same["losses"] == [1.0, 0.5]
        box._put({"type": "frame", "scene": 1, "grid": "old", "losses": [1.0]})
        box._put({"type": "frame", "scene": 2, "status": "click to draw", "losses": []})  # a new build
        fresh = box.take()[-1]
        assert "grid" not in fresh and fresh["losses"] == [] and box.dropped == 2
    finally:
        loop.close()


def test_drawn_points_over_the_socket_build_the_model(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "settings", "settings": {"data": "drawn", "model": "gmm", "components": 2}})
        built = _until(ws, lambda m: m["type"] == "state")["scene"]
        frame = _until(ws, lambda m: m["type"] == "frame" and m["scene"] == built)
        assert "click" in frame["status"] and "grid" not in frame
        ws.send_json({"type": "points", "points": [[0.0, 0.0], [0.2, 0.1], [2.0, 2.0], [2.1, 1.8]]})
        frame = _until(ws, lambda m: m["type"] == "frame" and "grid" in m and m["scene"] > built)
        assert len(frame["data"]) == 4


# ---------------------------------------------------------------------------------------------- the command
def test_cli_has_the_playground_subcommand_and_a_clean_missing_extra_error(monkeypatch, capsys):
    import sys

    from ebm.cli import build_parser, main

    args = build_parser().parse_args(["playground", "--no-browser", "--port", "0"])
    assert args.host == "127.0.0.1" and args.no_browser
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    assert main(["playground", "--no-browser"]) == 2
    assert "pip install 'ebm-playground[playground]'" in capsys.readouterr().err
    assert main(["playground", "--port", "70000"]) == 2
