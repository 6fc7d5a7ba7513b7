#!/usr/bin/env bash
# `silence add` and `silence list` side by side with amtool doing the same against the
# same real Alertmanager (the test bed's v0.32.0, the chart's version, started here on a
# free loopback port, clustering off), preloaded with alerts and silences so that listing has something to print.
# Prints the medians and the ratio ours/amtool for each; the target is <= 1.0x.
#
#   hack/bench-alertmanager.sh            # RUNS=100 by default
#   RUNS=300 STRICT=1 hack/bench-alertmanager.sh   # STRICT=1: exit 1 when a ratio is above 1.0
#   HYPERFINE=1 hack/bench-alertmanager.sh         # also hyperfine's report
#   PLUGIN=bin/kubectl-picluster hack/bench-alertmanager.sh   # a binary already built
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

runs=${RUNS:-100}
bed=$(hack/build-testbed.sh --locate) || {
	echo "bench-alertmanager: needs the test bed's alertmanager and amtool (run hack/build-testbed.sh)" >&2
	exit 2
}
alertmanager=$bed/bin/alertmanager
amtool=$bed/bin/amtool

tmp=$(mktemp -d)
am_pid=""
cleanup() {
	if [[ -n "$am_pid" ]]; then
		kill "$am_pid" 2>/dev/null || true
		wait "$am_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

plugin=${PLUGIN:-}
if [[ -z "$plugin" ]]; then
	echo "building the plugin..." >&2
	make -s build BIN="$tmp/kubectl-picluster"
	plugin="$tmp/kubectl-picluster"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
url="http://127.0.0.1:$port"
cat >"$tmp/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
receivers:
- name: "null"
EOF
"$alertmanager" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/data" \
	--web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$tmp/alertmanager.log" 2>&1 &
am_pid=$!
for _ in $(seq 100); do
	curl -fs "$url/-/ready" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "$url/-/ready" >/dev/null || { echo "alertmanager did not start:" >&2; cat "$tmp/alertmanager.log" >&2; exit 1; }
"$alertmanager" --version 2>&1 | head -1 >&2

# Neither tool may read the machine's own config.
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/xdg"
mkdir -p "$HOME" "$XDG_CONFIG_HOME"

# Preload: 30 firing alerts and 50 silences, half of them amtool's.
python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
alerts = [{"labels": {"alertname": f"BenchAlert{i % 5}", "namespace": "immich", "instance": f"pod-{i}"}} for i in range(30)]
req = urllib.request.Request(url + "/api/v2/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
for i in $(seq 25); do
	"$amtool" --alertmanager.url="$url" silence add "alertname=BenchAlert$((i % 5))" "instance=pod-$i" -d 2h -c "preload $i" -a amtool >/dev/null
	"$plugin" --alertmanager-url "$url" silence add "alertname=BenchAlert$((i % 5))" "instance=pod-$((i + 30))" -d 3h -c "preload $i" -a plugin >/dev/null 2>&1
done

# The same work for both: list the current silences as a table; add one silence
# with two matchers, a duration, a comment and an author, printing its ID.
list_amtool="$amtool --alertmanager.url=$url silence query"
list_ours="$plugin --alertmanager-url $url silence list"
add_amtool="$amtool --alertmanager.url=$url silence add alertname=BenchAlert1 namespace=immich -d 1h -c bench -a bench"
add_ours="$plugin --alertmanager-url $url silence add alertname=BenchAlert1 namespace=immich -d 1h -c bench -a bench"

# Sanity: both work and see the same silences.
n_amtool=$($amtool --alertmanager.url="$url" silence query -q | wc -l)
n_ours=$($plugin --alertmanager-url "$url" silence list -q | wc -l)
[[ "$n_amtool" == "$n_ours" ]] || { echo "amtool lists $n_amtool silences, the plugin $n_ours" >&2; exit 1; }
echo "Alertmanager at $url with $n_ours silences and 30 alerts; $runs runs each" >&2

# Runs alternate between the two tools (ABAB...), so that load from anything else on
# the machine hits both alike; a warm-up is discarded. Each added silence is expired
# again (untimed), so every add meets the same Alertmanager: 50 silences, 30 alerts. hyperfine runs one command's
# runs in a block, which on a shared machine skews ratios, so it only reports
# alongside when HYPERFINE=1.
results="$tmp/results.json"
python3 - "$url" "$runs" "$list_amtool" "$list_ours" "$add_amtool" "$add_ours" >"$results" <<'PY'
import json, shlex, statistics, subprocess, sys, time, urllib.request
url, runs = sys.argv[1], int(sys.argv[2])
pairs = [("amtool silence query", sys.argv[3], "picluster silence list", sys.argv[4], False),
         ("amtool silence add", sys.argv[5], "picluster silence add", sys.argv[6], True)]

def expire(silence_id):
    # Untimed: every add starts from the same Alertmanager state.
    urllib.request.urlopen(urllib.request.Request(f"{url}/api/v2/silence/{silence_id}", method="DELETE")).read()

out = {}
for a_name, a_cmd, b_name, b_cmd, adds in pairs:
    times = {a_name: [], b_name: []}
    for i in range(runs + 10):
        order = [(a_name, a_cmd), (b_name, b_cmd)] if i % 2 == 0 else [(b_name, b_cmd), (a_name, a_cmd)]
        for name, cmd in order:
            t = time.perf_counter()
            p = subprocess.run(shlex.split(cmd), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
            d = time.perf_counter() - t
            if i >= 10:
                times[name].append(d)
            if adds:
                expire(p.stdout.decode().strip())
    for name, ts in times.items():
        out[name] = statistics.median(ts)
        q = statistics.quantiles(ts, n=4)
        print(f"{name:24s} median {out[name]*1000:7.2f} ms  (quartiles {q[0]*1000:.2f}-{q[2]*1000:.2f} ms, {len(ts)} runs)", file=sys.stderr)
print(json.dumps(out))
PY
if [[ "${HYPERFINE:-0}" == 1 ]] && command -v hyperfine >/dev/null; then
	hyperfine -N --warmup 10 --runs "$runs" -n "amtool silence query" "$list_amtool" -n "picluster silence list" "$list_ours" >&2
	hyperfine -N --warmup 10 --runs "$runs" -n "amtool silence add" "$add_amtool" -n "picluster silence add" "$add_ours" >&2
fi

python3 - "$results" "${STRICT:-0}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = True
print(f"{'':24s} {'amtool':>10s} {'picluster':>10s} {'ratio':>7s}")
for what, theirs, ours in [("silence list / query", "amtool silence query", "picluster silence list"),
                           ("silence add", "amtool silence add", "picluster silence add")]:
    ratio = r[ours] / r[theirs]
    ok = ok and ratio <= 1.0
    print(f"{what:24s} {r[theirs]*1000:8.2f}ms {r[ours]*1000:8.2f}ms {ratio:6.2f}x")
print("target <= 1.0x:", "met" if ok else "NOT met")
sys.exit(1 if (not ok and sys.argv[2] == "1") else 0)
PY
