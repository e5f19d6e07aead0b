#!/usr/bin/env bash
# The whole test suite, with the test binaries run side by side (`make test`).
#
# Why not plain `cargo test`: it runs one test binary after the other, and most of the suite's
# time is the local-cluster tests waiting on datastores, partitions and timeouts, not the CPU.
# Each cluster test brings up its own named cluster (own namespaces, bridge and subnet, chosen
# under a lock), so binaries can run together; a binary's own tests already run in parallel.
#
# Usage: tests/run-all.sh [CARGO_ARGS...]   (e.g. --release); TEST_JOBS=N binaries at once
# (default 3). Each binary's output goes to target/test-logs/<binary>.log and is printed when it
# fails. Exit status: 0 when every binary and the doc tests pass.
set -uo pipefail
cd "$(dirname "$0")/.."

cargo=${CARGO:-cargo}
jobs=${TEST_JOBS:-3}
logs=target/test-logs
rm -rf "$logs" && mkdir -p "$logs"

# Build every test binary; cargo's JSON names each one with its package's directory (the
# directory cargo itself runs it in, where its fixtures are found).
list=$logs/binaries
"$cargo" test --workspace --no-run --message-format=json-render-diagnostics "$@" >"$logs/build.json" ||
	{ echo "run-all: building the tests failed" >&2; exit 1; }
sed -n 's/.*"manifest_path":"\([^"]*\)".*"profile":{[^}]*"test":true[^}]*}.*"executable":"\([^"]*\)".*/\1 \2/p' \
	"$logs/build.json" | sort -u >"$list.all"
[ -s "$list.all" ] || { echo "run-all: cargo named no test binary" >&2; exit 1; }
# The slow ones (local clusters) first, so that the short ones fill the gaps at the end.
{ grep -E '/(.*_local|etcd_workloads|test_etcd|harness_faults|browser)-[0-9a-f]+$' "$list.all"
  grep -vE '/(.*_local|etcd_workloads|test_etcd|harness_faults|browser)-[0-9a-f]+$' "$list.all"
} >"$list"

run_one() {
	local manifest=$1 exe=$2 logs=$3 name log start rc
	name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
	[ "$(dirname "$manifest")" = "$PWD" ] || name="$(basename "$(dirname "$manifest")")-$name"
	# The library's and the binary's unit tests share a name: the log keeps the hash.
	log=$logs/$(basename "$exe").log
	start=$(date +%s)
	(cd "$(dirname "$manifest")" && "$exe") >"$log" 2>&1
	rc=$?
	local took=$(($(date +%s) - start))
	if [ $rc = 0 ]; then
		printf 'ok      %-28s %4d s  %s\n' "$name" "$took" "$(grep -h '^test result' "$log" | tail -1)"
	else
		printf 'FAILED  %-28s %4d s  (exit %d)\n' "$name" "$took" "$rc"
		echo "$name $log" >"$log.failed"
	fi
}
export -f run_one

start=$(date +%s)
echo "run-all: $(wc -l <"$list") test binaries, $jobs at a time; logs in $logs/"
xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1" '"$logs" <"$list"

echo "run-all: doc tests"
"$cargo" test --workspace --doc "$@" >"$logs/doc.log" 2>&1 || echo "doc-tests $logs/doc.log" >"$logs/doc.log.failed"

failed=""
for marker in "$logs"/*.failed; do
	[ -e "$marker" ] || continue
	read -r name log <"$marker"
	echo "===== $name: its output ($log) ====="
	cat "$log"
	failed="$failed $name"
done
echo "run-all: $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then
	echo "run-all: FAILED:" $failed >&2
	exit 1
fi
echo "run-all: every test passed"
