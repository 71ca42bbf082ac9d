"""The playground's web server: Starlette routes, one WebSocket per tab, static files from the package.

Routes (all read-only except the WebSocket, which never touches the file system for the client):

* ``GET /``                the page (``static/index.html``)
* ``GET /static/...``      the page's script, style sheet and icon, served from this package
* ``GET /api/catalogue``   every choice and range (`ebm.playground.catalogue.catalogue`)
* ``GET /api/health``      ``{"sessions": n, "max_sessions": m}``
* ``WS  /ws``              a session: JSON messages in (`ebm.playground.session.Session.handle`),
                           frames, states, errors and exported PNGs out

Security: the server binds to 127.0.0.1 unless told otherwise; a WebSocket whose ``Origin`` is not
this server's own host is refused (another web site open in the browser cannot drive a session);
messages are JSON only (no pickle, no code), larger than ``MAX_MESSAGE`` bytes are refused, and the
only files written are exported PNGs in a temporary directory, deleted as soon as they are read.

Example:
    >>> app = create_app(max_sessions=4)
    >>> # uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ebm.playground.catalogue import catalogue
from ebm.playground.session import PlaygroundFull, SessionManager

__all__ = ["create_app", "STATIC_DIR", "MAX_MESSAGE"]

STATIC_DIR = resources.files("ebm.playground") / "static"
MAX_MESSAGE = 1 << 20  # bytes; drawn points are the largest legitimate message (~100 kB)


class _Outbox:
    """The newest unsent frame plus a queue of replies, filled from worker threads, drained by one coroutine.

    Frames replace each other (a slow page drops frames, memory stays flat); a dropped frame's
    landscape grid, data and losses are carried into the frame that replaces it when both belong to the
    same build of the scene, so nothing the page needs is lost. A frame of a new build carries nothing
    from the old one (its own first frame has its own grid, or none yet when there is no model).
    Replies (errors, states, exports, pongs) are never dropped, up to a bound.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.frame: dict | None = None
        self.replies: list[dict] = []
        self.ready = asyncio.Event()
        self.dropped = 0

    def put(self, message: dict) -> None:  # any thread
        try:
            self.loop.call_soon_threadsafe(self._put, message)
        except RuntimeError:  # the loop has closed (server shutting down): nobody is listening
            pass

    def _put(self, message: dict) -> None:
        if message.get("type") == "frame":
            if self.frame is not None:
                self.dropped += 1
            if self.frame is not None and self.frame.get("scene") == message.get("scene"):
                for key in ("grid", "score", "data"):
                    if key in self.frame and key not in message:
                        message[key] = self.frame[key]
                message["losses"] = self.frame.get("losses", []) + message.get("losses", [])
            self.frame = message
        elif len(self.replies) < 64:
            self.replies.append(message)
        self.ready.set()

    def take(self) -> list[dict]:
        out, self.replies = self.replies, []
        if self.frame is not None:
            out.append(self.frame)
            self.frame = None
        self.ready.clear()
        return out


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser (a script or a test client): nothing to protect against
        return True
    return urlsplit(origin).netloc == ws.headers.get("host")


def create_app(*, max_sessions: int = 24, compute_slots: int | None = None, max_fps: float = 10.0) -> Starlette:
    """The playground as an ASGI application (run it with uvicorn; `ebm playground` does).

    Args:
        max_sessions: the most tabs served at once; one more gets an error and a closed socket.
        compute_slots: the most scene ticks computed at once (default: the number of CPU cores).
        max_fps: frames per second per tab, at most.

    Returns:
        A Starlette app; ``app.state.manager`` is its `SessionManager`.
    """
    export_dir = tempfile.mkdtemp(prefix="ebm-playground-")
    manager = SessionManager(max_sessions=max_sessions, compute_slots=compute_slots, max_fps=max_fps, export_dir=export_dir)
    static = str(STATIC_DIR)

    async def index(request):
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-cache"})

    async def api_catalogue(request):
        return JSONResponse(catalogue())

    async def health(request):
        return JSONResponse({"sessions": manager.count, "max_sessions": manager.max_sessions})

    async def session_socket(ws: WebSocket):
        if not _same_origin(ws):
            await ws.close(code=1008)  # policy violation: another site's page
            return
        await ws.accept()
        outbox = _Outbox(asyncio.get_running_loop())
        try:
            session = manager.open(outbox.put)
        except PlaygroundFull as err:
            await ws.send_json({"type": "error", "message": str(err)})
            await ws.close(code=1013)  # try again later
            return

        async def sender():
            while True:
                await outbox.ready.wait()
                for message in outbox.take():
                    await ws.send_text(json.dumps(_finite_json(message), allow_nan=False))

        send_task = asyncio.create_task(sender())
        try:
            while True:
                received = await ws.receive()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                if text is None:
                    outbox.put({"type": "error", "message": "message: expected a JSON text frame, found a binary frame. Fix: send JSON text"})
                    continue
                if len(text) > MAX_MESSAGE:
                    outbox.put({"type": "error", "message": f"message: expected at most {MAX_MESSAGE} bytes, found {len(text)}. Fix: send fewer points at once"})
                    continue
                try:
                    message = json.loads(text)
                except ValueError:
                    outbox.put({"type": "error", "message": "message: expected JSON, found text that does not parse. Fix: send JSON objects"})
                    continue
                reply = session.handle(message)
                if reply is not None:
                    outbox.put(reply)
        except WebSocketDisconnect:
            pass  # the tab closed: the session ends with it
        finally:
            send_task.cancel()
            manager.close(session)

    @asynccontextmanager
    async def lifespan(app):
        yield
        manager.close_all()
        shutil.rmtree(export_dir, ignore_errors=True)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/catalogue", api_catalogue),
            Route("/api/health", health),
            WebSocketRoute("/ws", session_socket),
            Mount("/static", app=StaticFiles(directory=static), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.manager = manager
    return app


def _finite_json(obj):
    """Replace non-finite floats by None so that the page's JSON.parse never fails."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_json(v) for v in obj]
    return obj
