#!/usr/bin/env bash
# Cost of telemetry on /api/predict: runs scripts/bench-http.sh three times against the same
# release handler and model, loopback only:
#   off      no APPLICATIONINSIGHTS_CONNECTION_STRING (logs only);
#   live     export on, to a local HTTPS ingestion receiver that accepts every envelope
#            (self-signed certificate made here with the openssl command, trusted through
#            SSL_CERT_FILE), so the export work competes for the same two cores;
#   dead     export on, to a closed port on loopback.
# Prints each run's figures and the throughput change at concurrency 32 against `off`.
#
# Usage: scripts/bench-telemetry.sh    (BENCH_SECONDS as for bench-http.sh, default 10)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
receiver_pid=""
cleanup() {
  if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-3}

# A throw-away CA and a certificate for 127.0.0.1 signed by it (webpki refuses a CA
# certificate used as the server's own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=FluxOps bench CA" -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/cert.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
  -CAcreateserial -days 1 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null
cat /etc/ssl/certs/ca-certificates.crt "$work/ca.pem" >"$work/bundle.pem"

# The receiver: answers every POST as Application Insights does and counts the items.
python3 - "$work" <<'PY' &
import gzip, http.server, json, ssl, sys
work = sys.argv[1]
class Ingestion(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    items = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        count = len(json.loads(body))
        Ingestion.items += count
        with open(f"{work}/items", "w") as counter:
            counter.write(str(Ingestion.items))
        answer = json.dumps({"itemsReceived": count, "itemsAccepted": count, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{work}/cert.pem", f"{work}/key.pem")
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(f"{work}/port", "w") as port:
    port.write(str(server.server_address[1]))
server.serve_forever()
PY
receiver_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="InstrumentationKey=00000000-0000-0000-0000-000000000000"

run() {
  echo "== $1"
  scripts/bench-http.sh | tee "$work/$1.txt" | grep -E "concurrency|load average"
}
run off
APPLICATIONINSIGHTS_CONNECTION_STRING="$key;IngestionEndpoint=https://127.0.0.1:$port/" \
  SSL_CERT_FILE="$work/bundle.pem" run live
echo "   envelopes accepted by the receiver: $(cat "$work/items" 2>/dev/null || echo 0)"
APPLICATIONINSIGHTS_CONNECTION_STRING="$key;IngestionEndpoint=https://127.0.0.1:$closed_port/" run dead

rps32() { awk '/concurrency 32/ {print $4}' "$work/$1.txt"; }
for mode in live dead; do
  awk -v off="$(rps32 off)" -v on="$(rps32 "$mode")" -v mode="$mode" \
    'BEGIN {printf "%s: %+.1f%% throughput at concurrency 32 vs off\n", mode, (on - off) / off * 100}'
done
