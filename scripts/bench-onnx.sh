#!/usr/bin/env sh
# FluxOps against onnxruntime on one model and one set of rows, one after the other on this
# machine: `rf_bench`, a 100-tree, depth-10 scikit-learn forest exported by skl2onnx (a fixture of
# scripts/make-onnx-fixtures.py), imported by fluxops-onnx and run in process by the inference
# core; then onnxruntime from Python with one intra-op thread and with its default.
#
# Run from the repository root: sh scripts/bench-onnx.sh
# BENCH_PASSES (default 3) runs the pair that many times, alternating, so that a noisy machine
# slows both sides alike; compare the medians over the passes.
# BENCH_PYTHON overrides the interpreter (default: the test tools' venv).
set -eu

python=${BENCH_PYTHON:-.tools/venv/bin/python}
passes=${BENCH_PASSES:-3}

cargo bench -p fluxops-onnx --bench predict --no-run
pass=1
while [ "$pass" -le "$passes" ]; do
    echo "== pass $pass of $passes: FluxOps (cargo bench -p fluxops-onnx --bench predict)"
    cargo bench -q -p fluxops-onnx --bench predict
    echo
    echo "== pass $pass of $passes: onnxruntime (scripts/bench-onnxruntime.py)"
    "$python" scripts/bench-onnxruntime.py
    echo
    pass=$((pass + 1))
done
