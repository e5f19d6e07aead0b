#!/usr/bin/env bash
# The soak benchmark (issue 5): a long test with partitions against the 5-node local etcd,
# sampling the harness's memory while it runs, then checking that no operation was lost.
#   scripts/soak.sh [SECONDS] [RATE]      (default 1800 s at 500 ops/s; needs root)
# Prints the memory samples, the op counts and the verdict; exits non-zero when memory grew,
# an operation was lost, or the verdict is not valid.
set -euo pipefail
seconds=${1:-1800}
rate=${2:-500}
bin=${BIN:-target/release/faultline}
store=${STORE:-results/soak}
samples=$(mktemp /tmp/faultline-soak-rss.XXXXXX)

"$bin" cluster up --nodes 5 >/dev/null
"$bin" test --local-cluster 5 --time-limit "$seconds" --rate "$rate" --concurrency 10 \
	--nemesis partition-random-halves,partition-majorities-ring,partition-random-node \
	--nemesis-interval 10 --store "$store" > "$samples.out" 2> "$samples.err" &
pid=$!
start=$(date +%s)
# Resident memory of the faultline process every 10 s, until the workload ends (the final check
# reads the whole history back, by design; its peak is reported apart).
while kill -0 "$pid" 2>/dev/null; do
	grep -q "healing every fault" "$samples.err" && break
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
	[ -n "$rss" ] && echo "$(( $(date +%s) - start )) $rss" >> "$samples"
	sleep 10
done
code=0
wait "$pid" || code=$?
tail -n 6 "$samples.out"
if [ ! -e "$store/latest" ] || [ "$code" -gt 2 ]; then
	echo "the test did not finish (exit code $code):"; tail -n 20 "$samples.err"; exit 1
fi
run=$(readlink -f "$store/latest")
echo "run: $run (exit code $code)"
python3 - "$samples" "$run/history.jsonl" "$run/results.json" <<'PY'
import json, sys
samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
warm = [kib for t, kib in samples if t >= 60] or [kib for _, kib in samples]
print(f"harness RSS during the workload: {len(samples)} samples, "
      f"first {samples[0][1]/1024:.1f} MiB, after 60 s min {min(warm)/1024:.1f} MiB, "
      f"max {max(warm)/1024:.1f} MiB, last {samples[-1][1]/1024:.1f} MiB")
open_by_process, invokes, completions, lost = {}, 0, 0, 0
for line in open(sys.argv[2]):
    op = json.loads(line)
    if op["process"] == "nemesis":
        continue
    if op["type"] == "invoke":
        invokes += 1
        lost += op["process"] in open_by_process
        open_by_process[op["process"]] = op
    else:
        completions += 1
        lost += open_by_process.pop(op["process"], None) is None
lost += len(open_by_process)
r = json.load(open(sys.argv[3]))
s = r["summary"]
print(f"history: {invokes} invokes, {completions} completions, {lost} invokes without exactly one completion")
verdict = {True: "valid", False: "invalid"}.get(r["valid"], r["valid"])
print(f"verdict: {verdict}; {s['ok']} ok, {s['fail']} fail, {s['info']} info; {s['faults']} fault events; "
      f"{s['ok_per_second']:.0f} ok/s; p99 {s['latency_ms']['p99']} ms; check {s['check_ms']:.0f} ms")
grew = max(warm) > 1.5 * min(warm) + 8 * 1024
if grew:
    print("FAIL: harness memory grew during the run")
sys.exit(1 if grew or lost or r["valid"] is not True else 0)
PY
