"""Count how the public entry points answer bad input: clear / obscure / silent (see tests/probes.py).

Usage (from the repository root):
    python benchmarks/robustness_probes.py            # the counts
    python benchmarks/robustness_probes.py --list obscure silent   # and every probe with that outcome

To measure another checkout, run this file with that checkout first on the path, e.g.
    PYTHONPATH=/tmp/orig14 python benchmarks/robustness_probes.py
(the probe table in tests/probes.py imports only public names).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

import probes  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", nargs="*", default=[], help="outcomes whose probes to print (clear, obscure, silent, silent-NaN, accepted-ok)")
    parser.add_argument("--area", default=None, help="only probes of this area (A energies/data/grid, B samplers, C train, D objectives/sparse)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import ebm

    start = time.perf_counter()
    targets = probes.build_targets()
    broken = probes.broken_targets(targets)
    results = probes.run_probes(targets)
    if args.area:
        results = [r for r in results if r.area == args.area]
    elapsed = time.perf_counter() - start
    s = probes.summarise(results)
    print(f"ebm from {os.path.dirname(ebm.__file__)}; {len(targets)} targets, {s['total']} probes, {elapsed:.1f} s")
    for key in ("clear", "obscure", "silent", "silent-NaN", "accepted-ok"):
        print(f"  {key:12s} {s[key]:5d}  {100 * s[key] / max(s['total'], 1):5.1f}%")
    by_area = {}
    for r in results:
        by_area.setdefault(r.area, []).append(r)
    for area, rs in sorted(by_area.items()):
        sa = probes.summarise(rs)
        print(f"  area {area}: " + ", ".join(f"{k} {sa[k]}" for k in ("clear", "obscure", "silent", "silent-NaN", "accepted-ok")) + f", total {sa['total']}")
    if broken:
        print(f"  {len(broken)} targets whose working example fails (their probes are not meaningful):")
        for b in broken:
            print("    " + b[:200])
    for outcome in args.list:
        for r in results:
            if r.outcome == outcome:
                print(f"{outcome:12s} {r.probe:60s} {r.detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
