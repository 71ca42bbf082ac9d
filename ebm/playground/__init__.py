"""`ebm playground`: an interactive energy-landscape playground served to a browser on this machine.

Pick a landscape or a data set, a model and a training principle, press run, and watch the energy
surface being carved and the chains moving. The training and sampling are the library's own
(`ebm.train.train`, `ebm.objectives`, `samplers`); the server (`ebm.playground.server`, Starlette on
uvicorn, the optional ``playground`` extra) streams frames to a small plain-JavaScript page over a
WebSocket, one session per tab. Everything the page needs is served from this package: no internet.

Start it with ``ebm playground`` (see ``ebm playground --help``); `catalogue` and `scene` work without
the server's extra and hold everything that is not web plumbing.
"""

__all__ = ["catalogue", "scene"]
