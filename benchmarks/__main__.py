"""``python -m benchmarks [ID…]``: run the suite, print one table, write results.json."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from . import cluster, core, history, page, peer, probes, runs, scale, serve, startup, store, watch
from ._measure import SMOKE, Row

RESULTS = Path(__file__).with_name("results.json")
_ALL = (
    *core.BENCHMARKS,
    *startup.BENCHMARKS,
    *store.BENCHMARKS,
    *scale.BENCHMARKS,
    *watch.BENCHMARKS,
    *serve.BENCHMARKS,
    *cluster.BENCHMARKS,
    *probes.BENCHMARKS,
    *peer.BENCHMARKS,
    *history.BENCHMARKS,
    *page.BENCHMARKS,
    *runs.BENCHMARKS,
)


def main(argv: list[str]) -> int:
    wanted = {arg.lower() for arg in argv}
    rows: list[Row] = []
    chosen = [
        benchmark
        for benchmark in _ALL
        if not wanted or any(w in benchmark.__name__ for w in wanted)
    ]
    if not chosen:
        names = ", ".join(benchmark.__name__ for benchmark in _ALL)
        print(f"no benchmark matches {' '.join(argv)!r}; they are: {names}", file=sys.stderr)
        return 2
    if SMOKE:
        print("WAYPOINT_HOOKS_BENCH_SMOKE=1: tiny sizes, one repeat; the figures mean nothing")
    for benchmark in chosen:
        rows.extend(benchmark())
    # A benchmark whose tool is missing (strace, Prometheus) says so and gives no row.
    width = max((len(r.measures) for r in rows), default=len("measures"))
    print(
        f"{'id':<10} {'measures':<{width}}  {'ratio':>7}  {'target':>7}  {'seconds':>10}  baseline"
    )
    for r in rows:
        mark = "beside" if r.target is None else "ok" if r.met else "MISSED"
        target = "-" if r.target is None else f"{r.target:.1f}x"
        print(
            f"{r.id:<10} {r.measures:<{width}}  {r.ratio:>6.2f}x  {target:>7}  "
            f"{r.seconds:>10.6f}  {r.baseline} ({r.baseline_seconds:.6f}s) {mark}"
        )
    if SMOKE:
        return 0
    RESULTS.write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "rows": [r.to_json() for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
