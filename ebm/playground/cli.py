"""``ebm playground [--port N] [--host 127.0.0.1] [--no-browser]``: start the server and open the page.

`add_parser` registers the subcommand on the ``ebm`` command's subparsers; it imports nothing from
the web extra, so ``ebm`` works without it and only ``ebm playground`` asks for
``pip install 'ebm-playground[playground]'``.
"""

from __future__ import annotations

import sys

__all__ = ["add_parser", "run"]

EXPOSE_HINT = (
    "The playground listens on this machine only. To let a classroom reach it, start it with "
    "--host 0.0.0.0 (every network interface) on a trusted network: it has no login."
)


def add_parser(sub) -> None:
    """Add the ``playground`` subcommand to an argparse subparsers object."""
    p = sub.add_parser("playground", help="an interactive energy-landscape playground in the browser (local web server)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument("--max-sessions", type=int, default=24, help="most tabs served at once")
    p.add_argument("--max-fps", type=float, default=10.0, help="frames per second per tab, at most")
    p.set_defaults(func=run)


def run(args) -> int:
    """Serve until interrupted (Ctrl-C)."""
    from ebm._validation import check_int, check_positive, format_error

    check_int("--port", args.port, minimum=0, maximum=65535)
    check_int("--max-sessions", args.max_sessions, minimum=1, maximum=256)
    check_positive("--max-fps", args.max_fps)
    try:
        import uvicorn

        from ebm.playground.server import create_app
    except ImportError as err:
        raise ValueError(format_error("ebm playground", "the web server packages (starlette, uvicorn, websockets)", f"missing ({err.name})", "pip install 'ebm-playground[playground]'")) from None
    import socket
    import threading
    import webbrowser

    import torch

    torch.set_num_threads(1)  # process-wide: each session's tick uses one core (see ebm.playground.session)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as err:
        raise ValueError(format_error("--port", f"a free port on {args.host}", f"{args.port} ({err.strerror})", "pick another with --port N (0 picks a free one)")) from None
    port = sock.getsockname()[1]
    url = f"http://{'localhost' if args.host in ('127.0.0.1', '::1', 'localhost') else args.host}:{port}/"
    print(f"ebm playground: serving on {url}  (Ctrl-C stops it)", flush=True)
    if args.host in ("127.0.0.1", "::1", "localhost"):
        print(EXPOSE_HINT, flush=True)
    if not args.no_browser:
        threading.Timer(0.8, webbrowser.open, args=(url,)).start()
    app = create_app(max_sessions=args.max_sessions, max_fps=args.max_fps)
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 21, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    print("ebm playground: stopped", file=sys.stderr)
    return 0
