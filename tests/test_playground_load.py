"""A short version of the playground's load and soak benchmark (`benchmarks/playground_load.py`), marked slow.

Four sessions (one sending malformed messages every second, one closing and reopening its tab every
10 s) against a real server process for 40 s: every session keeps receiving frames, pings come back,
the malformed messages get error replies, and when every tab has closed no session is left. Memory
must stay flat after warm-up: the bound (40 MiB) is loose because the allocator's resident set moves
by ±10 MiB on its own (the 10-minute, 20-session soak in BENCHMARKS.md moved within 439-454 MiB).
"""

import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the playground extra is missing: pip install 'ebm-playground[playground]'")
pytest.importorskip("websockets", reason="the playground extra is missing: pip install 'ebm-playground[playground]'")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import playground_load  # noqa: E402


@pytest.mark.slow
def test_four_sessions_for_forty_seconds_stay_responsive_and_flat():
    r = playground_load.run_load(sessions=4, duration=40.0, sample_every=5.0)
    assert all(n > 10 for n in r["frames_per_session"]), r["frames_per_session"]
    assert r["ping_rtt_s"]["n"] >= 100 and r["ping_rtt_s"]["p95"] < 2.0
    assert r["error_replies"][1] >= 30 and r["tabs_opened"][2] >= 4
    assert r["sessions_after_close"] == 0
    warm = [m for t, m in r["rss_mib"] if t >= 10.0]
    assert max(warm) - min(warm) < 40.0, r["rss_mib"]
