"""Load and soak test of `ebm playground`: N concurrent sessions against one server process.

Starts ``python -m ebm playground`` in a subprocess (localhost only), opens N WebSocket sessions that
each pick a different scene (models, principles, samplers, landscapes in turn) and press run, and for
``--duration`` seconds records, per session, the frames received and the round trip of a ping sent
every second (a page is responsive while its pings come back quickly and its frames keep arriving).
Every ``--sample-every`` seconds it reads the server's resident memory (VmRSS from /proc). Two
sessions misbehave on purpose: one sends a malformed message every second, one closes its tab and
opens a new one every 10 s (session churn must not leak). At the end every tab closes and the server
must report zero sessions.

    python benchmarks/playground_load.py --sessions 20 --duration 600      # the 10-minute soak
    python benchmarks/playground_load.py --sessions 4 --duration 20        # a quick check

Prints a Markdown summary and writes the raw numbers as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SCENES = [
    {"model": "mlp", "principle": "dsm"},
    {"model": "mlp", "principle": "nce", "data": "8gaussians"},
    {"model": "mlp", "principle": "cd", "data": "circles", "k": 5},
    {"model": "mlp", "principle": "ssm", "data": "pinwheel"},
    {"model": "kmeans", "principle": "free_energy", "data": "8gaussians"},
    {"model": "gmm", "principle": "em", "data": "rings"},
    {"model": "autoencoder", "principle": "denoising", "data": "swissroll"},
    {"model": "rbm", "principle": "pcd", "data": "checkerboard"},
    {"mode": "sample", "target": "banana", "sampler": "mala", "step_size": 0.02},
    {"mode": "sample", "target": "eight_modes", "sampler": "hmc", "step_size": 0.1},
    {"mode": "sample", "target": "neal_funnel", "sampler": "ula", "step_size": 0.01},
    {"model": "mlp", "principle": "pcd", "data": "2spirals", "k": 5},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _session(url: str, scene: dict, deadline: float, stats: dict, *, malformed: bool = False, churn: bool = False) -> None:
    import websockets

    stats.update(frames=0, rtts=[], errors=0, opened=0, first_frame=None)
    while time.monotonic() < deadline:
        end = min(deadline, time.monotonic() + 10) if churn else deadline
        async with websockets.connect(url, max_size=1 << 24) as ws:
            stats["opened"] += 1
            await ws.send(json.dumps({"type": "settings", "settings": scene}))
            await ws.send(json.dumps({"type": "run", "on": True}))
            pending: dict[int, float] = {}

            async def pinger():
                n = 0
                while time.monotonic() < end:
                    n += 1
                    pending[n] = time.monotonic()
                    await ws.send(json.dumps({"type": "ping", "t": n}))
                    if malformed:
                        await ws.send("{not json")
                    await asyncio.sleep(1.0)

            task = asyncio.create_task(pinger())
            try:
                while time.monotonic() < end:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.05, end - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
                    m = json.loads(raw)
                    if m["type"] == "frame":
                        stats["frames"] += 1
                        if stats["first_frame"] is None:
                            stats["first_frame"] = time.monotonic()
                    elif m["type"] == "pong" and m.get("t") in pending:
                        stats["rtts"].append(time.monotonic() - pending.pop(m["t"]))
                    elif m["type"] == "error":
                        stats["errors"] += 1
            finally:
                task.cancel()


def run_load(sessions: int = 20, duration: float = 60.0, sample_every: float = 10.0, max_fps: float = 10.0) -> dict:
    """Run the load test and return its numbers (see the module docstring)."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "ebm", "playground", "--no-browser", "--port", str(port), "--max-sessions", str(sessions + 4), "--max-fps", str(max_fps)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        rss = [(0.0, _rss_mib(server.pid))]
        stats = [dict() for _ in range(sessions)]
        t0 = time.monotonic()
        deadline = t0 + duration

        async def main():
            async def sampler():
                while time.monotonic() < deadline:
                    await asyncio.sleep(min(sample_every, max(0.0, deadline - time.monotonic())))
                    rss.append((time.monotonic() - t0, _rss_mib(server.pid)))

            tasks = [
                _session(f"ws://127.0.0.1:{port}/ws", SCENES[i % len(SCENES)], deadline, stats[i], malformed=(i == 1), churn=(i == 2))
                for i in range(sessions)
            ]
            await asyncio.gather(sampler(), *tasks)

        asyncio.run(main())
        time.sleep(2.0)
        health = json.loads(urllib.request.urlopen(base + "/api/health", timeout=5).read())
        rss.append((time.monotonic() - t0, _rss_mib(server.pid)))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    fps = [s["frames"] / max(1e-9, deadline - (s["first_frame"] or deadline)) for s in stats]
    rtts = sorted(r for s in stats for r in s["rtts"])
    return {
        "sessions": sessions,
        "duration_s": duration,
        "max_fps": max_fps,
        "fps_per_session": fps,
        "frames_per_session": [s["frames"] for s in stats],
        "scenes": [SCENES[i % len(SCENES)] for i in range(sessions)],
        "ping_rtt_s": {"p50": statistics.median(rtts) if rtts else None, "p95": rtts[int(0.95 * (len(rtts) - 1))] if rtts else None, "max": rtts[-1] if rtts else None, "n": len(rtts)},
        "error_replies": [s["errors"] for s in stats],
        "tabs_opened": [s["opened"] for s in stats],
        "rss_mib": rss,
        "sessions_after_close": health["sessions"],
    }


def summary(r: dict) -> str:
    fps = r["fps_per_session"]
    rss = [m for _, m in r["rss_mib"]]
    warm = [m for t, m in r["rss_mib"] if t >= min(60.0, r["duration_s"] / 4)] or rss
    lines = [
        f"sessions {r['sessions']}, {r['duration_s']:.0f} s, frame cap {r['max_fps']} fps",
        f"frames/s per session: min {min(fps):.2f}, median {statistics.median(fps):.2f}, max {max(fps):.2f}; every session got frames: {all(f > 0 for f in r['frames_per_session'])}",
        "per scene: " + ", ".join(f"{s.get('model', s.get('target'))}/{s.get('principle', s.get('sampler'))} {f:.1f}" for s, f in zip(r["scenes"], fps)),
        f"ping round trip: p50 {1000 * r['ping_rtt_s']['p50']:.0f} ms, p95 {1000 * r['ping_rtt_s']['p95']:.0f} ms, max {1000 * r['ping_rtt_s']['max']:.0f} ms ({r['ping_rtt_s']['n']} pings)",
        f"server RSS (MiB): start {rss[0]:.0f}, after warm-up {warm[0]:.0f}, end {rss[-1]:.0f}, max {max(rss):.0f}; growth after warm-up {warm[-1] - warm[0]:+.0f} MiB",
        f"malformed-message session: {r['error_replies'][1] if r['sessions'] > 1 else 0} error replies; churn session opened {r['tabs_opened'][2] if r['sessions'] > 2 else 0} tabs",
        f"sessions left after every tab closed: {r['sessions_after_close']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--max-fps", type=float, default=10.0)
    parser.add_argument("--json", help="write the raw numbers here")
    a = parser.parse_args()
    result = run_load(a.sessions, a.duration, a.sample_every, a.max_fps)
    print(summary(result))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
