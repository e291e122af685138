"""Run every ``bench/bench_*.py`` module and write ``bench/results.json``.

Usage: ``python -m bench.run [NAME ...]`` (``make bench``; ``BENCH_QUICK=1`` for a small sample).
Each module defines ``run(quick: bool) -> list[dict]`` built with :func:`bench._common.record`.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench._common import QUICK

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"


def main(argv: list[str]) -> int:
    wanted = set(argv)
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    rows: list[dict[str, object]] = []
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and wanted else []
    for name in modules:
        short = name.removeprefix("bench_")
        if wanted and short not in wanted and name not in wanted:
            continue
        print(f"== {short}", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        for row in module.run(QUICK):
            row["module"] = short
            rows.append(row)
            _print_row(row)
        print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
    done = {r["module"] for r in rows}
    rows = [r for r in previous if r.get("module") not in done] + rows
    meta = {"python": platform.python_version(), "machine": platform.machine(), "quick": QUICK}
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    (HERE / "results.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"\nwrote {RESULTS} ({len(rows)} records)")
    failed = [r["name"] for r in rows if r.get("meets_target") is False]
    if failed:
        print("targets missed: " + ", ".join(map(str, failed)))
    return 0


def _print_row(row: dict[str, object]) -> None:
    peer = f"  vs {row['peer']} {row['peer_value']}" if row.get("peer") else ""
    ratio = f"  ratio {row['ratio']}" if row.get("ratio") is not None else ""
    verdict = {True: "  ✓", False: "  ✗ missed", None: ""}[row.get("meets_target")]  # type: ignore[index]
    print(
        f"   {row['name']:<48} {row['value']:>12} {row['unit']:<8}{peer}{ratio}  {row['target']}{verdict}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
