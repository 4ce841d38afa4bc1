#!/usr/bin/env bash
# A real run for the dashboard picture: Kafka, the fraud-detection example with generated
# payments and its metrics endpoint, a Prometheus server scraping it every 2 s, and a pause in
# the middle (SIGUSR1) so the lag rises and falls; then docs/monitoring/dashboard.png is
# rendered from Prometheus' data by scripts/render-dashboard.py. Everything started here is
# stopped here, by pid.
#
#   bash scripts/dashboard-demo.sh            # about 4 minutes after the builds
#
# Prometheus is built from the Go module proxy into the cache the first time (Go needed);
# matplotlib comes from PyPI (`pip install matplotlib`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

prometheus_version=v0.316.0   # Prometheus 3.x's Go module version
prom_home="$KSTREAMS_CACHE_DIR/prometheus-$prometheus_version"
if [ ! -x "$prom_home/bin/prometheus" ]; then
  echo "building Prometheus $prometheus_version (Go module proxy) into $prom_home"
  GOBIN="$prom_home/bin" GOFLAGS=-mod=mod go install "github.com/prometheus/prometheus/cmd/prometheus@$prometheus_version"
fi
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib

cargo build --quiet --locked -p streams-examples --bin fraud-detection
run=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${started_kafka:-}" ] && bash scripts/kafka.sh stop >/dev/null
  rm -rf "$run"
}
trap cleanup EXIT

if ! bootstrap=$(bash scripts/kafka.sh env 2>/dev/null | sed -n 's/^KSTREAMS_BOOTSTRAP_SERVERS=//p') || [ -z "$bootstrap" ]; then
  bash scripts/kafka.sh start >/dev/null
  started_kafka=1
  bootstrap=$(bash scripts/kafka.sh env | sed -n 's/^KSTREAMS_BOOTSTRAP_SERVERS=//p')
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
app_port=$(free_port)
prom_port=$(free_port)
id="dashboard-demo-$(date +%s)"

"$CARGO_TARGET_DIR/debug/fraud-detection" --bootstrap-servers "$bootstrap" \
  --application-id "$id" --topic-prefix "$id-" --rate 300 --state-dir "$run/state" \
  --metrics-address "127.0.0.1:$app_port" >"$run/app.log" 2>&1 &
app=$!
pids+=("$app")

cat >"$run/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
scrape_configs:
  - job_name: fraud-detection
    static_configs:
      - targets: ["127.0.0.1:$app_port"]
EOF
"$prom_home/bin/prometheus" --config.file="$run/prometheus.yml" --storage.tsdb.path="$run/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$run/prometheus.log" 2>&1 &
pids+=("$!")

start=$(date +%s)
echo "running: normal 90 s, paused 45 s, resumed 75 s"
sleep 90
kill -USR1 "$app"
sleep 45
kill -USR1 "$app"
sleep 75
end=$(date +%s)
python3 scripts/render-dashboard.py --prometheus "http://127.0.0.1:$prom_port" \
  --dashboard docs/monitoring/grafana-dashboard.json --start "$start" --end "$end" \
  --out docs/monitoring/dashboard.png
grep -E "paused|resumed" "$run/app.log" || true
