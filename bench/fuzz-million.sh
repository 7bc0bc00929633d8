#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every libFuzzer target of tests/fuzz for at least a million
# executions (-runs=1000000) on a copy of its seed corpus, one after the
# other, and prints a table: target, executions, seconds, exec/s, new corpus
# units, result. (Executions as libFuzzer counts them: the seed pass included.) Builds the fuzz build first when needed (clang, libFuzzer,
# ASan + UBSan). Not part of the test run: a short one is (suite 'fuzz').
#
# usage: bench/fuzz-million.sh [TARGET...]     (default: all five)
#   BUILDDIR=build-fuzz   the fuzz build directory
#   RUNS=1000000          executions per target
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${BUILDDIR:-build-fuzz}
runs=${RUNS:-1000000}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config ksmtuned meminfo ksm-stat domain-xml)

if [ ! -d "$builddir" ]; then
  CC=clang meson setup "$builddir" -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null || exit 1
fi
meson compile -C "$builddir" >/dev/null || { echo "build failed: meson compile -C $builddir" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/samepage-fuzz-million.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
artifacts="$builddir/tests/fuzz/artifacts"
mkdir -p "$artifacts"

export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

echo "# $(uname -r), $(nproc) CPUs, $(clang --version | head -n 1)"
echo "# reproduce: BUILDDIR=$builddir RUNS=$runs bench/fuzz-million.sh ${targets[*]}"
echo "# one target: $builddir/tests/fuzz/fuzz-<target> -runs=$runs -timeout=10 -rss_limit_mb=2048 \\"
echo "#   -dict=tests/fuzz/<target>.dict -artifact_prefix=$artifacts/ <copy of tests/fuzz/corpus/<target>>"
printf '%-12s %12s %9s %10s %9s  %s\n' target executions seconds exec/s new-units result
failed=0
for t in "${targets[@]}"; do
  fuzzer="$builddir/tests/fuzz/fuzz-$t"
  corpus="$work/$t"
  mkdir -p "$corpus"
  cp -- "tests/fuzz/corpus/$t"/* "$corpus/"
  before=$(find "$corpus" -type f | wc -l)
  start=$(date +%s.%N)
  "$fuzzer" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -dict="tests/fuzz/$t.dict" \
    -artifact_prefix="$artifacts/fuzz-$t-" -print_final_stats=1 "$corpus" >"$work/$t.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  after=$(find "$corpus" -type f | wc -l)
  done_runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs in .*/\1/p' "$work/$t.log" | tail -n 1)
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  rate=$(awk -v n="${done_runs:-0}" -v s="$seconds" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
  if [ "$rc" -eq 0 ] && [ -n "$done_runs" ] && [ "$done_runs" -ge "$runs" ]; then
    result=ok
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$t.log" | tail -n 1)
    result="FAILED (exit $rc${artifact:+, $artifact})"
    cp "$work/$t.log" "$artifacts/fuzz-$t-million.log"
  fi
  printf '%-12s %12s %9s %10s %9s  %s\n' "$t" "${done_runs:-?}" "$seconds" "$rate" \
    "$((after - before))" "$result"
done
if [ "$failed" -ne 0 ]; then
  echo "# logs of the failed targets: $artifacts/fuzz-<target>-million.log"
fi
exit "$failed"
