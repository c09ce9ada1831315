#!/usr/bin/env bash
# HTTP benchmark of the release handler, loopback only, bounded in time and connections.
# BENCH_MODE chooses what is measured:
#   api (the default):
#     - /api/predict throughput and latency at concurrency 1 and 32 (wrk, one thread, installed
#       with apt-get when missing);
#     - cold start: process start to the first 200 from /api/health with the model loaded;
#     - peak RSS of the handler (VmHWM) after the load runs;
#     - size of the Functions zip, if `cargo xtask package` has made it.
#   v2: the Open Inference Protocol's infer beside /api/predict, at concurrency 1 and 32, one row
#     and a 1000-row batch, JSON and binary tensors (FP64 in, every output back in the same
#     form), in BENCH_ROUNDS interleaved rounds (every case once per round, medians reported),
#     with the ratios the V2 goals are stated in.
#   overload: load shedding. The handler runs with FLUXOPS_MAX_CONCURRENCY=$BENCH_OVERLOAD_LIMIT
#     (default 64) and is driven at $BENCH_OVERLOAD_CONNECTIONS (default 256) connections by hey
#     (installed with apt-get when missing; wrk cannot tell the latency of one status from
#     another's), each request a batch of $BENCH_OVERLOAD_ROWS rows (default 1000). Batches,
#     because they are what piles up: a single-row request is answered in one poll of a worker
#     thread, so no more of them are ever in flight than there are workers, while a batch waits
#     on the blocking pool and holds its place. It reports the share of 503 `overloaded`
#     answers, the p50 and p99 of the 200s and of the 503s, and fails if any answer is neither
#     200 nor 503, or if no request was admitted.
# It fails when any request of a load run fails: a benchmark with errors measures nothing.
#
# Usage: scripts/bench-http.sh            (from anywhere in the repository)
#        BENCH_MODE=v2 scripts/bench-http.sh
#        BENCH_MODE=overload scripts/bench-http.sh
# Knobs: BENCH_SECONDS (per load run, default 10, at most 60), BENCH_PORT (default: a free one),
#        BENCH_MODELS (registry folder, default models; trained like `cargo xtask run` if empty),
#        BENCH_COLD_RUNS (api: default 10),
#        BENCH_ROUNDS (v2: interleaved rounds, default 3),
#        BENCH_OVERLOAD_LIMIT, BENCH_OVERLOAD_CONNECTIONS, BENCH_OVERLOAD_ROWS (overload, above),
#        BENCH_HANDLER (the handler executable to measure, such as the one inside the Functions
#        zip, which `cargo xtask test` passes; default: a fresh `cargo build --release`),
#        BENCH_TRAINER (the fluxops-train executable that trains the model when the registry
#        has none; default: `cargo run --release`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${BENCH_SECONDS:-10}
port=${BENCH_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
models=${BENCH_MODELS:-models}
cold_runs=${BENCH_COLD_RUNS:-10}
mode=${BENCH_MODE:-api}
case "$mode" in
  api | v2 | overload) ;;
  *) echo "bench: BENCH_MODE is api, v2 or overload, not $mode" >&2; exit 2 ;;
esac
rounds=${BENCH_ROUNDS:-3}
overload_limit=${BENCH_OVERLOAD_LIMIT:-64}
overload_connections=${BENCH_OVERLOAD_CONNECTIONS:-256}
overload_rows=${BENCH_OVERLOAD_ROWS:-1000}
if [ "$seconds" -gt 60 ]; then seconds=60; fi
url="http://127.0.0.1:$port"
body='{"features":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]}'
work=$(mktemp -d)
handler_pid=""
cleanup() {
  if [ -n "$handler_pid" ]; then kill "$handler_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'bench: %s\n' "$*" >&2; }

# The load generators: wrk (and hey for the overload run), installed with apt-get when missing.
install() {
  say "installing $1 with apt-get"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y "$1" >/dev/null; else sudo apt-get install -y "$1" >/dev/null; fi
}
command -v wrk >/dev/null 2>&1 || install wrk
if [ "$mode" = overload ]; then command -v hey >/dev/null 2>&1 || install hey; fi

# What is measured: a release handler and a model in the registry.
if [ -n "${BENCH_HANDLER:-}" ]; then
  handler=$BENCH_HANDLER
else
  cargo build --release --quiet -p fluxops-handler --bin handler
  handler="$root/target/release/handler"
fi
[ -x "$handler" ] || { say "$handler is not an executable"; exit 1; }
say "measuring $handler"
if [ ! -f "$models/fluxops/latest.json" ]; then
  say "no model in $models; training the reference model"
  if [ -n "${BENCH_TRAINER:-}" ]; then
    "$BENCH_TRAINER" --synthetic 1000 --out "$models" --name fluxops >/dev/null
  else
    cargo run --release --quiet -p fluxops-trainer --bin fluxops-train -- \
      --synthetic 1000 --out "$models" --name fluxops >/dev/null
  fi
fi

# Starts the long-lived handler for the load runs (extra variables as arguments) and waits
# until it is healthy.
start_handler() {
  env FUNCTIONS_CUSTOMHANDLER_PORT="$port" FLUXOPS_MODEL_SOURCE="$models" RUST_LOG=info "$@" \
    "$handler" >"$work/handler.log" 2>&1 &
  handler_pid=$!
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$url/api/health" 2>/dev/null; then break; fi
    sleep 0.05
  done
  curl -fsS -o /dev/null "$url/api/health" || { say "the handler is not healthy"; cat "$work/handler.log" >&2; exit 1; }
}

if [ "$mode" = overload ]; then
  start_handler FLUXOPS_MAX_CONCURRENCY="$overload_limit" FLUXOPS_MAX_BATCH="$overload_rows"
  python3 -c 'import json, sys; row = [0.1 * i for i in range(1, 11)]
json.dump({"instances": [row] * int(sys.argv[1])}, sys.stdout)' "$overload_rows" >"$work/body.json"
  # A short warm-up, then the measured run; hey writes one CSV line per request.
  hey -z 2s -c "$overload_connections" -m POST -T application/json -D "$work/body.json" "$url/api/predict" >/dev/null
  hey -z "${seconds}s" -c "$overload_connections" -m POST -T application/json -D "$work/body.json" \
    -o csv "$url/api/predict" >"$work/requests.csv"
  read -r total ok shed other ok_p50 ok_p99 shed_p50 shed_p99 < <(python3 - "$work/requests.csv" <<'PY'
import csv, sys
times = {}
with open(sys.argv[1]) as rows:
    for row in csv.DictReader(rows):
        times.setdefault(row["status-code"], []).append(float(row["response-time"]) * 1000)
def percentile(values, share):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]
ok, shed = times.get("200", []), times.get("503", [])
total = sum(len(values) for values in times.values())
other = total - len(ok) - len(shed)
print(total, len(ok), len(shed), other, f"{percentile(ok, 0.5):.3f}", f"{percentile(ok, 0.99):.3f}",
      f"{percentile(shed, 0.5):.3f}", f"{percentile(shed, 0.99):.3f}")
PY
)
  if [ "$other" != 0 ] || [ "$ok" = 0 ]; then
    say "overload run: $other answers were neither 200 nor 503, $ok were admitted"
    sed 's/^/  | /' "$work/handler.log" >&2
    exit 1
  fi
  cat <<REPORT
FluxOps handler, overload benchmark (hey, ${seconds} s, loopback, $(nproc) CPUs)
  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
  /api/predict, batches of ${overload_rows} rows, ${overload_connections} connections against FLUXOPS_MAX_CONCURRENCY=${overload_limit}:
    ${total} answers, $((total / seconds)) per second; $(awk -v s="$shed" -v t="$total" 'BEGIN {printf "%.1f", 100 * s / t}')% shed (503 overloaded)
    200s: p50 ${ok_p50} ms, p99 ${ok_p99} ms
    503s: p50 ${shed_p50} ms, p99 ${shed_p99} ms
REPORT
  exit 0
fi

# Cold start, repeated (api mode only): start the process, poll /api/health every 0.5 ms until
# it is 200.
if [ "$mode" = v2 ]; then cold_runs=0; fi
cold_start_ms=$(python3 - "$handler" "$port" "$models" "$cold_runs" <<'PY'
import http.client, os, statistics, subprocess, sys, time
handler, port, models, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
env = dict(os.environ, FUNCTIONS_CUSTOMHANDLER_PORT=str(port), FLUXOPS_MODEL_SOURCE=models,
           RUST_LOG="info")
times = []
for _ in range(runs):
    started = time.perf_counter()
    process = subprocess.Popen([handler], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while True:
            if time.perf_counter() - started > 10:
                sys.exit("the handler did not become healthy within 10 s")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.0005)
        times.append((time.perf_counter() - started) * 1000)
    finally:
        process.terminate()
        process.wait()
print(f"{statistics.median(times):.1f} {min(times):.1f} {max(times):.1f}" if times else "- - -")
PY
)

# The load runs, against one long-lived handler.
start_handler

# Prints "requests_per_second p50_ms p99_ms errors" for one run at the given concurrency;
# errors counts non-2xx/3xx answers, connection errors and timeouts.
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d\\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
LUA
load() {
  wrk -t1 -c "$1" -d "${2:-$seconds}s" --timeout 2s -s "$work/post.lua" "$url/api/predict" |
    awk '/^RESULT/ {print $2, $3, $4, $5}'
}

# BENCH_MODE=v2: the bodies of each case (one row: the seed row; 1000 rows: seeded random rows,
# written with the 17 digits a client sends), a wrk script per case, interleaved rounds.
bench_v2() {
  python3 - "$work" <<'PY'
import json, random, struct, sys
work = sys.argv[1]
rng = random.Random(42)
seed = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
batch = [[rng.random() for _ in range(10)] for _ in range(1000)]
def write(case, path, content_type, body, json_length=None):
    with open(f"{work}/{case}.body", "wb") as out:
        out.write(body)
    header = "" if json_length is None else f'wrk.headers["Inference-Header-Content-Length"] = "{json_length}"'
    with open(f"{work}/{case}.lua", "w") as out:
        out.write(f"""local file = io.open("{work}/{case}.body", "rb")
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.path = "{path}"
wrk.headers["Content-Type"] = "{content_type}"
{header}
""")
def v2_json(rows):
    return json.dumps({"inputs": [{"name": "input-0", "shape": [len(rows), 10],
                                   "datatype": "FP64", "data": rows}]}).encode()
def v2_binary(rows):
    header = json.dumps({"inputs": [{"name": "input-0", "shape": [len(rows), 10], "datatype": "FP64",
                                     "parameters": {"binary_data_size": len(rows) * 80}}],
                         "parameters": {"binary_data_output": True}}).encode()
    data = b"".join(struct.pack("<10d", *row) for row in rows)
    return header + data, len(header)
infer = "/v2/models/fluxops/infer"
write("api-1", "/api/predict", "application/json", json.dumps({"features": seed}).encode())
write("v2json-1", infer, "application/json", v2_json([seed]))
write("v2binary-1", infer, "application/octet-stream", *v2_binary([seed]))
write("api-1000", "/api/predict", "application/json", json.dumps({"instances": batch}).encode())
write("v2json-1000", infer, "application/json", v2_json(batch))
write("v2binary-1000", infer, "application/octet-stream", *v2_binary(batch))
PY
  local cases=(api-1 v2json-1 v2binary-1 api-1000 v2json-1000 v2binary-1000)
  for case in "${cases[@]}"; do
    sed -n '/^done = /,$p' "$work/post.lua" >>"$work/$case.lua"
    # Every case must answer 200 before it is measured.
    code=$(wrk -t1 -c1 -d1s -s "$work/$case.lua" "$url" | awk '/^RESULT/ {print $5}')
    [ "$code" = 0 ] || { say "case $case failed: $code errors"; cat "$work/handler.log" >&2; exit 1; }
  done
  : >"$work/v2.results"
  for round in $(seq 1 "$rounds"); do
    for concurrency in 1 32; do
      for case in "${cases[@]}"; do
        read -r rps p50 p99 errors < <(wrk -t1 -c "$concurrency" -d "${seconds}s" --timeout 2s \
          -s "$work/$case.lua" "$url" | awk '/^RESULT/ {print $2, $3, $4, $5}')
        [ "${errors:-1}" = 0 ] || { say "$case at concurrency $concurrency: ${errors:-?} errors"; exit 1; }
        echo "$case $concurrency $round $rps $p50 $p99" >>"$work/v2.results"
      done
    done
  done
  python3 - "$work/v2.results" "$rounds" "$seconds" <<'PY'
import statistics, sys
results, rounds, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {}
for line in open(results):
    case, concurrency, _, rps, p50, p99 = line.split()
    runs.setdefault((case, int(concurrency)), []).append((float(rps), float(p50), float(p99)))
def median(case, concurrency, field=0):
    return statistics.median(run[field] for run in runs[(case, concurrency)])
names = {"api-1": "/api/predict, 1 row", "v2json-1": "V2 infer JSON, 1 row",
         "v2binary-1": "V2 infer binary, 1 row", "api-1000": "/api/predict, 1000 rows",
         "v2json-1000": "V2 infer JSON, 1000 rows", "v2binary-1000": "V2 infer binary, 1000 rows"}
print(f"V2 benchmark (wrk, {seconds} s per run, medians of {rounds} interleaved rounds)")
for concurrency in (1, 32):
    for case, name in names.items():
        rows = 1000 if case.endswith("-1000") else 1
        rps = median(case, concurrency)
        print(f"  {name + ',':30} concurrency {concurrency:2}: {rps:9.0f} req/s, {rps * rows:10.0f} rows/s,"
              f" p50 {median(case, concurrency, 1):.3f} ms, p99 {median(case, concurrency, 2):.3f} ms")
    print(f"    V2 JSON 1 row / /api/predict: {median('v2json-1', concurrency) / median('api-1', concurrency):.2f};"
          f" V2 binary 1 row / /api/predict: {median('v2binary-1', concurrency) / median('api-1', concurrency):.2f};"
          f" 1000 rows binary / JSON: {median('v2binary-1000', concurrency) / median('v2json-1000', concurrency):.2f}")
PY
}

# A short warm-up, then the measured runs.
load 32 2 >/dev/null
if [ "$mode" = v2 ]; then
  bench_v2
  exit 0
fi
read -r rps1 p50_1 p99_1 errors1 < <(load 1)
read -r rps32 p50_32 p99_32 errors32 < <(load 32)
peak_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$handler_pid/status")
read -r cold_median cold_min cold_max <<<"$cold_start_ms"

zip="$root/dist/fluxops-functions.zip"
if [ -f "$zip" ]; then
  zip_size="$(stat -c %s "$zip") bytes ($(awk -v b="$(stat -c %s "$zip")" 'BEGIN {printf "%.1f", b/1048576}') MiB)"
else
  zip_size="not built (run cargo xtask package)"
fi

if [ "${errors1:-1}" != 0 ] || [ "${errors32:-1}" != 0 ]; then
  say "requests failed under load: ${errors1:-?} at concurrency 1, ${errors32:-?} at concurrency 32"
  sed 's/^/  | /' "$work/handler.log" >&2
  exit 1
fi

cat <<REPORT
FluxOps handler, HTTP benchmark (wrk, ${seconds} s per run, loopback, $(nproc) CPUs)
  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
  /api/predict, concurrency 1:  ${rps1} req/s, p50 ${p50_1} ms, p99 ${p99_1} ms, errors ${errors1}
  /api/predict, concurrency 32: ${rps32} req/s, p50 ${p50_32} ms, p99 ${p99_32} ms, errors ${errors32}
  cold start to healthy (median of ${cold_runs}): ${cold_median} ms (min ${cold_min}, max ${cold_max})
  peak RSS after the load runs: $((peak_rss_kb / 1024)) MiB (${peak_rss_kb} kB)
  Functions zip: ${zip_size}
REPORT
