"""Sessions: one scene per browser tab, advanced by one worker thread, with bounded CPU and memory.

A `Session` owns a `Scene`, a command queue and a worker thread. The page's messages become
commands (`Session.handle` checks them first and answers malformed ones with an error, never an
exception); the worker applies them between ticks, advances the scene while "run" is on, and
publishes frames through a callback (the server keeps only the newest unsent frame per tab, so a
slow page drops frames instead of piling them up).

CPU is bounded three ways (`SessionManager`): a cap on sessions; a semaphore of compute slots (by
default the number of cores), which a worker holds while it advances its scene and draws a frame, so
at most that many ticks run at once however many tabs are open; and a frame-rate cap per session.
The server sets ``torch.set_num_threads(1)`` once for the process (torch's intra-op setting is
process-wide, not per thread), so each tick uses one core.

A run that diverges (`ebm.train.TrainingDiverged`, `samplers.SamplerDivergedError`) sends the
library's own message to the page and the session lives on: training divergence rebuilds the model,
sampler divergence restarts the chains; both pause the run.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable

import torch

from ebm.playground.catalogue import DEFAULTS, MAX_DRAWN_POINTS, TRAIN_BOUNDS, SceneError, validate_scene
from ebm.playground.scene import Scene

__all__ = ["Session", "SessionManager", "PlaygroundFull", "FairSlots", "LIVE_KNOBS", "COMMANDS"]

log = logging.getLogger("ebm.playground")

# Knobs applied to the running scene without rebuilding it (everything else rebuilds the model).
LIVE_KNOBS = frozenset({"lr", "sampler", "step_size", "leapfrog", "chains", "temperature", "sweeps", "steps", "batch"})
COMMANDS = ("settings", "run", "step", "reset", "points", "clear_points", "export", "ping")


class PlaygroundFull(RuntimeError):
    """The session cap is reached."""


class FairSlots:
    """A counting semaphore that serves waiters first come, first served.

    ``threading.Semaphore`` lets a thread that releases a slot take it straight back, so with more
    sessions than cores a few sessions got most ticks (measured: 1 to 5 frames/s among 4 sessions); a
    ticket queue hands slots out in arrival order, so every session gets its turn.
    """

    def __init__(self, n: int):
        self._cond = threading.Condition()
        self._free = n
        self._queue: deque = deque()

    def __enter__(self):
        with self._cond:
            ticket = object()
            self._queue.append(ticket)
            while self._queue[0] is not ticket or self._free == 0:
                self._cond.wait()
            self._queue.popleft()
            self._free -= 1
            self._cond.notify_all()  # the next ticket may take a second free slot
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()


class SessionManager:
    """Creates sessions up to ``max_sessions`` and shares ``compute_slots`` among their workers.

    Args:
        max_sessions: the most sessions (tabs) at once.
        compute_slots: the most ticks computed at once (default: the number of CPU cores).
        max_fps: frames per second per session, at most.
        export_dir: where exported PNGs are written (and deleted after reading); a temporary directory.
    """

    def __init__(self, *, max_sessions: int = 24, compute_slots: int | None = None, max_fps: float = 10.0, export_dir: str | None = None):
        self.max_sessions = max_sessions
        self.slots = FairSlots(compute_slots or os.cpu_count() or 1)
        self.max_fps = max_fps
        self.export_dir = export_dir or tempfile.mkdtemp(prefix="ebm-playground-")
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()
        self._next = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def open(self, publish: Callable[[dict], None]) -> "Session":
        """Start a session whose frames and replies go to ``publish``; raises `PlaygroundFull` at the cap."""
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise PlaygroundFull(
                    f"the playground is full ({self.max_sessions} sessions). Fix: close another tab, or restart the server with a larger --max-sessions"
                )
            self._next += 1
            session = Session(self, self._next, publish)
            self._sessions[session.id] = session
        session.start()
        return session

    def close(self, session: "Session") -> None:
        session.stop()
        with self._lock:
            self._sessions.pop(session.id, None)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            s.stop()
        for s in sessions:
            s.thread.join(timeout=5)


def _check_points(points) -> torch.Tensor:
    """Drawn points from the page: a list of ``[x, y]`` pairs of finite numbers inside the view box."""
    (x0, x1), (y0, y1) = TRAIN_BOUNDS
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_DRAWN_POINTS:
        found = f"a list of {len(points)} items" if isinstance(points, list) else type(points).__name__
        raise SceneError(f"points: expected a list of 1 to {MAX_DRAWN_POINTS} [x, y] pairs, found {found}. Fix: send points as [[x, y], ...]")
    out = []
    for p in points:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise SceneError(f"points: expected [x, y] pairs of numbers, found {str(p)[:40]}. Fix: send points as [[x, y], ...]")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y) and x0 <= x <= x1 and y0 <= y <= y1):
            raise SceneError(f"points: expected finite points inside {TRAIN_BOUNDS}, found [{x}, {y}]. Fix: draw inside the landscape")
        out.append((x, y))
    return torch.tensor(out, dtype=torch.float32)  # (m, 2)


class Session:
    """One tab's scene, its worker thread and its command queue (see the module docstring)."""

    def __init__(self, manager: SessionManager, ident: int, publish: Callable[[dict], None]):
        self.manager, self.id, self.publish = manager, ident, publish
        self.settings = dict(DEFAULTS)
        self.drawn = torch.zeros(0, 2)  # (m, 2) points drawn by clicking
        self.commands: queue.Queue = queue.Queue(maxsize=256)
        self.running = False
        self.closed = threading.Event()
        self.frames = 0
        self.builds = 0
        self.thread = threading.Thread(target=self._work, name=f"ebm-playground-{ident}", daemon=True)
        self.scene: Scene | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.closed.set()
        try:
            self.commands.put_nowait(("close", None))  # wake a worker that waits for a command
        except queue.Full:
            pass

    # ------------------------------------------------------------------ the page's messages
    def handle(self, message) -> dict | None:
        """Check one decoded message from the page and queue it; returns an error reply or None.

        Messages are ``{"type": one of COMMANDS, ...}``: ``settings`` (``{"settings": {...}}``), ``run``
        (``{"on": bool}``), ``step``, ``reset``, ``points`` (``{"points": [[x, y], ...]}``),
        ``clear_points``, ``export`` (``{"kind": "energy"|"density", "log": bool, "score": bool}``), ``ping``.
        """
        try:
            if not isinstance(message, dict) or message.get("type") not in COMMANDS:
                found = message.get("type") if isinstance(message, dict) else type(message).__name__
                raise SceneError(f"message: expected an object with a type among {list(COMMANDS)}, found {str(found)[:40]!r}. Fix: send one of the documented messages")
            kind = message["type"]
            if kind == "ping":
                return {"type": "pong", "t": message.get("t") if isinstance(message.get("t"), (int, float)) else None}
            if kind == "settings":
                payload = (validate_scene(message.get("settings"), self.settings), set(message.get("settings") or ()))
            elif kind == "run":
                if not isinstance(message.get("on"), bool):
                    raise SceneError("run: expected {\"on\": true or false}, found " + repr(message.get("on"))[:40] + ". Fix: send a boolean")
                payload = message["on"]
            elif kind == "points":
                payload = _check_points(message.get("points"))
            elif kind == "export":
                export_kind = message.get("kind", "energy")
                if export_kind not in ("energy", "density") or not isinstance(message.get("log", False), bool) or not isinstance(message.get("score", True), bool):
                    raise SceneError("export: expected kind 'energy' or 'density' and boolean log / score. Fix: send e.g. {\"type\": \"export\", \"kind\": \"energy\"}")
                payload = (export_kind, message.get("log", False), message.get("score", True))
            else:
                payload = None
            if kind == "settings":
                self.settings = payload[0]  # validated here so that the reply is immediate
            self.commands.put_nowait((kind, payload))
        except SceneError as err:
            reply = {"type": "error", "message": str(err)}
            if isinstance(message, dict) and message.get("type") == "settings":
                reply.update(settings=self.settings)  # the page shows the settings still in force
            return reply
        except queue.Full:
            return {"type": "error", "message": "session: expected at most 256 queued messages, found more. Fix: send fewer messages (the page is too fast for this machine)"}
        return None

    # ------------------------------------------------------------------ the worker
    def _build(self) -> None:
        self.builds += 1  # frames and states carry it, so a page can tell the new scene's frames from the old's
        self.scene = Scene(self.settings, self.drawn)
        self._sent_grid = -1
        self._sent_data = False

    def _apply(self, kind: str, payload) -> bool:
        """Apply one command; returns True when a tick should run now (the step button)."""
        if kind == "settings":
            scene, changed = payload
            live = changed <= LIVE_KNOBS and self.scene is not None
            if live:
                self.scene.update({k: scene[k] for k in changed})
            else:
                self.settings = scene
                self._build()
            self.publish({"type": "state", "running": self.running, "settings": self.settings, "scene": self.builds})
        elif kind == "run":
            self.running = payload
            self.publish({"type": "state", "running": self.running, "settings": self.settings, "scene": self.builds})
        elif kind == "reset":
            self._build()
        elif kind == "points":
            self.drawn = torch.cat([self.drawn, payload])[-MAX_DRAWN_POINTS:]  # (m, 2)
            if self.settings["data"] == "drawn" and self.settings["mode"] == "train":
                self._build()
        elif kind == "clear_points":
            self.drawn = torch.zeros(0, 2)
            if self.settings["data"] == "drawn":
                self._build()
        elif kind == "export":
            self._export(*payload)
        return kind == "step"

    def _export(self, kind: str, log_scale: bool, score: bool) -> None:
        import matplotlib.pyplot as plt

        fd, path = tempfile.mkstemp(prefix="view-", suffix=".png", dir=self.manager.export_dir)
        os.close(fd)
        try:
            with self.manager.slots:
                self.scene.export_png(path, kind=kind, log_scale=log_scale, score=score)
            with open(path, "rb") as fh:
                png = base64.b64encode(fh.read()).decode()
        finally:
            plt.close("all")
            os.unlink(path)
        self.publish({"type": "export", "filename": "ebm-playground.png", "png": png})

    def _frame(self) -> None:
        scene = self.scene
        include_grid = scene.grid_version != self._sent_grid
        frame = scene.frame(include_grid=include_grid, include_data=not self._sent_data)
        self._sent_grid, self._sent_data = scene.grid_version, True
        frame["running"] = self.running
        frame["scene"] = self.builds
        self.frames += 1
        self.publish(frame)

    def _work(self) -> None:
        from samplers import SamplerDivergedError

        from ebm.train import TrainingDiverged

        interval = 1.0 / self.manager.max_fps
        try:
            self._build()
            with self.manager.slots:
                self._frame()
        except Exception as err:  # noqa: BLE001 - a scene that cannot be built is reported, not fatal
            self.publish({"type": "error", "message": str(err)})
        next_tick = time.monotonic()
        while not self.closed.is_set():
            tick = False
            try:
                wait = None if not self.running else max(0.0, next_tick - time.monotonic())
                kind, payload = self.commands.get(timeout=wait) if wait is None or wait > 0 else self.commands.get_nowait()
                if kind == "close":
                    break
                tick = self._apply(kind, payload)
                redraw = True
            except queue.Empty:
                redraw = False
            except Exception as err:  # noqa: BLE001 - reported to the page; the session lives on
                log.warning("session %d: %s", self.id, err)
                self.publish({"type": "error", "message": str(err)})
                continue
            due = self.running and time.monotonic() >= next_tick
            if not (tick or due or redraw) or self.closed.is_set():
                continue
            try:
                with self.manager.slots:
                    if (tick or due) and self.scene is not None:
                        self.scene.advance()
                    if self.scene is not None:
                        self._frame()
            except TrainingDiverged as err:
                self._recover(f"{err} The model was rebuilt from its initialisation.", rebuild=True)
            except SamplerDivergedError as err:
                self._recover(f"{err} The chains were restarted.", rebuild=False)
            except Exception as err:  # noqa: BLE001 - the library's own message, shown in the page
                log.warning("session %d: %s", self.id, err, exc_info=not isinstance(err, (ValueError, TypeError)))
                self._recover(f"{type(err).__name__}: {err}", rebuild=False)
            if due:
                next_tick = max(next_tick + interval, time.monotonic())

    def _recover(self, message: str, *, rebuild: bool) -> None:
        self.running = False
        self.publish({"type": "error", "message": message})
        try:
            if rebuild or self.scene is None:
                self._build()
            else:
                self.scene.update({"chains": self.scene.settings["chains"]})  # fresh chains
            with self.manager.slots:
                self._frame()
        except Exception as err:  # noqa: BLE001
            self.publish({"type": "error", "message": str(err)})
        self.publish({"type": "state", "running": False, "settings": self.settings, "scene": self.builds})
