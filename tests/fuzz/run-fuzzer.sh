#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs one libFuzzer target on a copy of its seed corpus (the checked-in
# seeds stay as they are) and reports TAP:
#   1..1
#   ok 1 - <target> <N> execs in <S> s
# or "not ok" with the crash artifact's path and the last 40 lines of the
# fuzzer's output.
#
# usage: run-fuzzer.sh FUZZER SEED-DIR ARTIFACT-DIR [libFuzzer options...]
#   e.g. run-fuzzer.sh build/tests/fuzz/fuzz-meminfo tests/fuzz/corpus/meminfo \
#          build/tests/fuzz/artifacts -max_total_time=30 -timeout=10 -rss_limit_mb=2048
set -u

if [ $# -lt 3 ]; then
  echo "usage: $0 FUZZER SEED-DIR ARTIFACT-DIR [libFuzzer options...]" >&2
  exit 2
fi
fuzzer=$1
seeds=$2
artifacts=$3
shift 3
name=$(basename "$fuzzer")

echo "1..1"
work=$(mktemp -d "${TMPDIR:-/tmp}/samepage-$name.XXXXXX") || {
  echo "not ok 1 - $name: cannot create a temporary directory"
  exit 1
}
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp -- "$seeds"/* "$work/corpus/" || {
  echo "not ok 1 - $name: cannot copy the seed corpus $seeds"
  exit 1
}
seed_units=$(find "$work/corpus" -type f | wc -l)

# Every sanitizer report is fatal, leaks included; the GLib allocator is
# plain malloc, so that ASan sees every block
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

start=$(date +%s.%N)
"$fuzzer" -artifact_prefix="$artifacts/$name-" "$@" "$work/corpus" >"$work/log" 2>&1
rc=$?
end=$(date +%s.%N)

runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs in .*/\1/p' "$work/log" | tail -n 1)
units=$(find "$work/corpus" -type f | wc -l)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
  echo "ok 1 - $name $runs execs in $seconds s ($((units - seed_units)) new corpus units)"
  exit 0
fi

artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
echo "not ok 1 - $name: exit status $rc${artifact:+, crash artifact $artifact}${runs:+ after $runs execs}"
tail -n 40 "$work/log" | sed 's/^/# /'
if [ -n "$artifact" ]; then
  echo "# reproduce: $fuzzer $artifact"
fi
exit 1
