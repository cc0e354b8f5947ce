#!/usr/bin/env bash
# Smoke test for the slim daprd built by tools/build-daprd.sh, against a real
# Mosquitto with password auth (Debian's mosquitto + mosquitto-clients):
#
#  1. mosquitto on a free 127.0.0.1 port, allow_anonymous false (checked);
#  2. daprd --mode standalone with a resources dir holding
#       pubsub.mqtt3 `edge-mqtt`      credentials in the URL, consumerID,
#                                      qos 1, retain false, cleanSession false
#       pubsub.mqtt3 `edge-mqtt-sec`  URL from secretstores.local.env
#       secretstores.local.env / secretstores.local.file
#  3. POST /v1.0/publish/edge-mqtt/telemetry -> seen by an authenticated
#     mosquitto_sub (CloudEvent envelope), and again with rawPayload=true
#     (bytes unchanged), and via edge-mqtt-sec;
#  4. GET /v1.0/secrets/files/... reads the local.file store;
#  5. if python3 is present: a 40-line app declares subscriptions on
#     GET /dapr/subscribe and acks with {"status":"SUCCESS"}; a plain
#     mosquitto_pub (as a device would send) must reach it through daprd,
#     as-is (JSON parsed as the event) and, with rawPayload, as a CloudEvent
#     carrying data_base64.
#
# Everything started here is killed on exit. Exit 0 only if every check passed.
#   DAPRD=/path/to/daprd tools/smoke-daprd.sh   # test a given binary
#   SMOKE_KEEP=1 ...                             # keep the temp dir (logs)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${DAPRD:-}" ]]; then
  bash "$here/build-daprd.sh"
  DAPRD="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}/bin/daprd"
fi
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
for b in "$DAPRD" "$MOSQUITTO"; do [[ -x "$b" ]] || { echo "smoke: $b not found" >&2; exit 1; }; done
for b in mosquitto_sub mosquitto_pub mosquitto_passwd curl; do
  command -v "$b" >/dev/null || { echo "smoke: $b not found (apt-get install -y mosquitto mosquitto-clients curl)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/smoke-daprd.XXXXXX")"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for f in "$work"/*.log; do [[ -f "$f" ]] && { echo "----- ${f##*/} (tail)"; tail -n 25 "$f"; }; done
  fi
  if [[ -n "${SMOKE_KEEP:-}" ]]; then echo "smoke: kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  else
    local p
    while :; do
      p=$((20000 + RANDOM % 20000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
  fi
}
# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
  local t=$1; shift
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

MQ_PORT=$(free_port); HTTP_PORT=$(free_port); GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port); APP_PORT=$(free_port)
MQ_USER=edge-smoke
MQ_PASS="s3cret-$RANDOM$RANDOM"
marker="smoke-$$-$RANDOM"

# --- 1. mosquitto with password auth ----------------------------------------
mosquitto_passwd -b -c "$work/passwd" "$MQ_USER" "$MQ_PASS" >/dev/null 2>&1
chmod 600 "$work/passwd"
cat >"$work/mosquitto.conf" <<EOF
user $(id -un)
listener $MQ_PORT 127.0.0.1
allow_anonymous false
password_file $work/passwd
persistence false
log_dest file $work/mosquitto.log
log_type all
EOF
"$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/mosquitto.out.log" 2>&1 &
pids+=($!)
wait_for 10 port_open "$MQ_PORT" || fail "mosquitto did not listen on $MQ_PORT"
ok "mosquitto on 127.0.0.1:$MQ_PORT (pid ${pids[-1]})"

sub=(-h 127.0.0.1 -p "$MQ_PORT" -u "$MQ_USER" -P "$MQ_PASS")
if mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" -t anon -m x -q 1 >/dev/null 2>&1; then
  fail "anonymous publish was accepted"
fi
ok "anonymous client refused"

mosquitto_sub "${sub[@]}" -i smoke-observer -q 1 -v -t 'telemetry' -t 'telemetry/#' >"$work/observed.txt" 2>"$work/observer.log" &
pids+=($!)
wait_for 10 grep -q 'SUBACK to smoke-observer' "$work/mosquitto.log" || fail "observer did not subscribe"

# --- 2. resources + daprd -----------------------------------------------------
res="$work/resources"
mkdir -p "$res"
cat >"$work/secrets.json" <<EOF
{"plant": {"site": "$marker-site"}}
EOF
cat >"$res/secretstores.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: env
spec:
  type: secretstores.local.env
  version: v1
  metadata: []
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: files
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - name: secretsFile
    value: $work/secrets.json
  - name: nestedSeparator
    value: ":"
EOF
cat >"$res/pubsub.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: edge-mqtt
spec:
  type: pubsub.mqtt3
  version: v1
  metadata:
  - name: url
    value: "tcp://$MQ_USER:$MQ_PASS@127.0.0.1:$MQ_PORT"
  - name: consumerID        # = the MQTT client id: unique per daprd!
    value: "smoke-{appID}"
  - name: qos
    value: "1"
  - name: retain
    value: "false"
  - name: cleanSession
    value: "false"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: edge-mqtt-sec
spec:
  type: pubsub.mqtt3
  version: v1
  metadata:
  - name: url
    secretKeyRef:
      name: SMOKE_MQTT_URL
      key: SMOKE_MQTT_URL
  - name: consumerID
    value: "smoke-sec-{appID}"
  - name: qos
    value: "1"
  - name: cleanSession
    value: "false"
auth:
  secretStore: env
EOF

app_args=()
if command -v python3 >/dev/null; then
  cat >"$work/app.py" <<'EOF'
# Minimal Dapr app: programmatic subscriptions + SUCCESS acks.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
SUBS = [
    {"pubsubname": "edge-mqtt", "topic": "devices/cmd", "route": "/cmd"},
    {"pubsubname": "edge-mqtt", "topic": "devices/raw", "route": "/raw",
     "metadata": {"rawPayload": "true"}},
]
class H(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self._send(200, SUBS if self.path == "/dapr/subscribe" else {})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(out, "a") as f:
            f.write("%s %s\n" % (self.path, body.decode(errors="replace").replace("\n", " ")))
        self._send(200, {"status": "SUCCESS"})
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
  python3 "$work/app.py" "$APP_PORT" "$work/app-received.txt" >"$work/app.log" 2>&1 &
  pids+=($!)
  wait_for 10 port_open "$APP_PORT" || fail "app did not listen"
  app_args=(--app-port "$APP_PORT" --app-protocol http)
fi

(
  cd "$work"
  export SMOKE_MQTT_URL="tcp://$MQ_USER:$MQ_PASS@127.0.0.1:$MQ_PORT"
  exec "$DAPRD" --app-id smoke --mode standalone --resources-path "$res" \
    --dapr-http-port "$HTTP_PORT" --dapr-grpc-port "$GRPC_PORT" \
    --metrics-port "$METRICS_PORT" --placement-host-address '' \
    --dapr-listen-addresses 127.0.0.1 --dapr-internal-grpc-listen-address 127.0.0.1 \
    --metrics-listen-address 127.0.0.1 --log-level info "${app_args[@]}"
) >"$work/daprd.log" 2>&1 &
pids+=($!)
daprd_pid=$!
api="http://127.0.0.1:$HTTP_PORT/v1.0"
# /healthz/outbound: components loaded (does not wait for the app channel).
wait_for 30 curl -fsS "$api/healthz/outbound" || fail "daprd not healthy (outbound)"
ok "daprd $("$DAPRD" --version) up (pid $daprd_pid, http $HTTP_PORT, grpc $GRPC_PORT)"
if grep -q 'level=fatal' "$work/daprd.log"; then fail "daprd logged a fatal error"; fi

# --- 3. publish ---------------------------------------------------------------
code=$(curl -sS -o "$work/pub1.out" -w '%{http_code}' -X POST "$api/publish/edge-mqtt/telemetry" \
  -H 'Content-Type: application/json' -d "{\"marker\":\"$marker-ce\",\"temp\":21.5}")
[[ "$code" == 204 ]] || fail "publish returned HTTP $code: $(cat "$work/pub1.out")"
wait_for 10 grep -q "$marker-ce" "$work/observed.txt" || fail "CloudEvent publish did not reach the broker"
line=$(grep "$marker-ce" "$work/observed.txt")
[[ "$line" == telemetry\ * && "$line" == *'"specversion":"1.0"'* && "$line" == *'"pubsubname":"edge-mqtt"'* ]] \
  || fail "unexpected CloudEvent on broker: $line"
ok "publish edge-mqtt/telemetry -> broker (CloudEvent envelope)"

payload="{\"marker\":\"$marker-raw\",\"temp\":22}"
code=$(curl -sS -o "$work/pub2.out" -w '%{http_code}' -X POST "$api/publish/edge-mqtt/telemetry/line1?metadata.rawPayload=true" \
  -H 'Content-Type: application/json' -d "$payload")
[[ "$code" == 204 ]] || fail "raw publish returned HTTP $code: $(cat "$work/pub2.out")"
wait_for 10 grep -qF "telemetry/line1 $payload" "$work/observed.txt" || fail "raw publish did not arrive unchanged"
ok "publish edge-mqtt/telemetry/line1?metadata.rawPayload=true -> broker, bytes unchanged"

code=$(curl -sS -o "$work/pub3.out" -w '%{http_code}' -X POST "$api/publish/edge-mqtt-sec/telemetry" \
  -H 'Content-Type: application/json' -d "{\"marker\":\"$marker-sec\"}")
[[ "$code" == 204 ]] || fail "publish via edge-mqtt-sec returned HTTP $code: $(cat "$work/pub3.out")"
wait_for 10 grep -q "$marker-sec" "$work/observed.txt" || fail "publish via secret-URL component did not arrive"
ok "publish via edge-mqtt-sec (url from secretstores.local.env) -> broker"

# --- 4. local.file secret store ----------------------------------------------
got=$(curl -fsS "$api/secrets/files/plant:site") || fail "secret read failed"
[[ "$got" == *"$marker-site"* ]] || fail "unexpected secret: $got"
ok "secretstores.local.file: GET /v1.0/secrets/files/plant:site"

# --- 5. subscriptions into an app --------------------------------------------
if ((${#app_args[@]})); then
  wait_for 30 curl -fsS "$api/healthz" || fail "daprd not healthy (app channel)"
  # a device publishing plain JSON straight to the broker
  for t in devices/cmd devices/raw; do
    mosquitto_pub "${sub[@]}" -q 1 -t "$t" -m "{\"marker\":\"$marker-$t\"}"
  done
  # Without rawPayload daprd parses the MQTT payload AS the CloudEvent: a
  # device's plain JSON reaches the app unchanged (non-JSON would fail).
  wait_for 15 grep -qF "/cmd {\"marker\":\"$marker-devices/cmd\"}" "$work/app-received.txt" \
    || fail "subscribed message (devices/cmd) not delivered to the app unchanged"
  # With rawPayload=true daprd wraps the bytes: CloudEvent + data_base64.
  b64=$(printf '%s' "{\"marker\":\"$marker-devices/raw\"}" | base64 | tr -d '\n')
  wait_for 15 grep -q "^/raw .*\"data_base64\":\"$b64\"" "$work/app-received.txt" \
    || fail "rawPayload subscription (devices/raw) not delivered as CloudEvent data_base64"
  ok "GET /dapr/subscribe; device JSON on devices/cmd -> app as-is, devices/raw (rawPayload) -> CloudEvent data_base64"
else
  echo "skip: python3 not found, subscription-to-app check not run"
fi

if grep -q 'level=fatal' "$work/daprd.log"; then fail "daprd logged a fatal error"; fi
kill -0 "$daprd_pid" 2>/dev/null || fail "daprd exited"
echo "smoke-daprd: PASS"
