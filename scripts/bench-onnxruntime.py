#!/usr/bin/env python3
"""onnxruntime's prediction speed on the benchmark model `rf_bench` (a 100-tree, depth-10
scikit-learn forest exported by skl2onnx), on the same rows as FluxOps' benchmark
(`cargo bench -p fluxops-onnx --bench predict`): one row at a time, and batches of the recorded
rows repeated in order. Each measurement runs twice, with `intra_op_num_threads=1` and with
onnxruntime's default (every core).

Run from the repository root with the test tools' interpreter (or `scripts/bench-onnx.sh`, which
runs both benchmarks):

    .tools/venv/bin/python scripts/bench-onnxruntime.py [--seconds 2]

Prints the median of several timed passes: nanoseconds per single-row call, rows per second for
batches. Requests go through `InferenceSession.run` from Python, as an onnxruntime-based service
would call it; the Python call itself is part of what is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime

FIXTURES = Path("crates/fluxops-onnx/tests/fixtures")
BATCHES = (1_000, 10_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    seconds = parser.parse_args().seconds
    model = (FIXTURES / "rf_bench.onnx").read_bytes()
    record = json.loads((FIXTURES / "rf_bench.json").read_text())
    rows = np.array(record["inputs"], dtype=np.float32)
    print(f"onnxruntime {onnxruntime.__version__}, rf_bench, {len(rows)} recorded rows")
    for threads, label in ((1, "intra_op_num_threads=1"), (0, "default threads")):
        session = open_session(model, threads)
        single = single_row_ns(session, rows, seconds)
        print(f"{label:24} single row  {single / 1000:8.2f} µs/row")
        for n_rows in BATCHES:
            batch = rows[np.arange(n_rows) % len(rows)]
            rate = batch_rows_per_second(session, batch, seconds)
            print(f"{label:24} batch {n_rows:>7}  {rate / 1e6:8.3f} M rows/s")


def open_session(model: bytes, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def passes(run, seconds: float) -> list:
    """Times `run` (which returns how many items it did) in passes of about a tenth of
    `seconds` each, after a warm-up; returns seconds per item for each pass."""
    run()
    results = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(results) < 5:
        start = time.perf_counter_ns()
        items = 0
        while time.perf_counter_ns() - start < seconds * 1e8:
            items += run()
        results.append((time.perf_counter_ns() - start) / 1e9 / items)
    return results


def single_row_ns(session, rows, seconds: float) -> float:
    name = session.get_inputs()[0].name
    singles = [row[None, :] for row in rows]

    def run() -> int:
        for row in singles:
            session.run(None, {name: row})
        return len(singles)

    return statistics.median(passes(run, seconds)) * 1e9


def batch_rows_per_second(session, batch, seconds: float) -> float:
    name = session.get_inputs()[0].name

    def run() -> int:
        session.run(None, {name: batch})
        return len(batch)

    return 1.0 / statistics.median(passes(run, seconds))


if __name__ == "__main__":
    main()
