#!/usr/bin/env bash
# The long fuzz runs of fuzz/README.md: each target that takes untrusted bytes to 10 million
# executions, with the flags of fuzz/flags.sh (inputs up to 1 or 4 MiB, memory and time
# limits), on a stable toolchain with `--sanitizer none`, at low priority, JOBS at a time.
# Logs go to fuzz/target/long-<target>.log; at the end a table of the results (a line for
# fuzz/README.md) and the state of the tree they ran on.
#
#   fuzz/long_run.sh                  # all six, 10,000,000 executions each
#   RUNS=2000 fuzz/long_run.sh        # a quick check that everything works
#   TARGETS="card bundle" JOBS=1 fuzz/long_run.sh
#
#   TARGETS=conversation JOBS=1 MAX_SECONDS=6000 fuzz/long_run.sh
#
# Environment: RUNS (10000000), TARGETS (decode state card bundle sealed_open channel_join),
# JOBS (2), NICE (10), TOOLCHAIN (stable), SANITIZER (none), MAX_SECONDS (0: no limit; a
# run stopped by it is a part, and the next part starts from its corpus).
#
# `conversation` is built apart (target/long-build-fast): with -O, so that only the library
# and the harness keep debug assertions and overflow checks (fuzz/Cargo.toml), and
# without -trace-compares. Its inputs are operation lists decoded by `arbitrary`, so traced
# comparisons guide it little, and they took over half of its time: 180 executions a
# second against 641 in a 20-second check (2026-12-06).
# Exits non-zero if any target failed; the input that broke it is in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"

RUNS="${RUNS:-10000000}"
TARGETS="${TARGETS:-decode state card bundle sealed_open channel_join}"
JOBS="${JOBS:-2}"
NICE="${NICE:-10}"
TOOLCHAIN="${TOOLCHAIN:-stable}"
SANITIZER="${SANITIZER:-none}"
# Its own build directory: `.ci/run` builds fuzz/target with a nightly toolchain and
# AddressSanitizer, and the two builds would rebuild over each other.
BUILD_DIR="target/long-build"
MAX_SECONDS="${MAX_SECONDS:-0}"

# The build arguments of a target (see above).
build_args() {
  case "$1" in
    conversation) echo "-O --no-trace-compares --target-dir target/long-build-fast" ;;
    *) echo "--target-dir ${BUILD_DIR}" ;;
  esac
}

# cargo-fuzz as `.ci/run` installs it, or from ~/.cargo/bin.
export PATH="$PWD/../target/ci-tools/bin:$HOME/.cargo/bin:$PATH"
fuzz=(cargo "+${TOOLCHAIN}" fuzz)
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed (cargo install --locked cargo-fuzz), or no ${TOOLCHAIN} toolchain" >&2
  exit 2
fi
# shellcheck source=fuzz/flags.sh
source flags.sh

mkdir -p target
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- .. 2>/dev/null)" ]; then
  commit="${commit} with uncommitted changes"
fi
started="$(date -u '+%Y-%m-%d %H:%M UTC')"

for target in ${TARGETS}; do
  read -ra args <<<"$(build_args "${target}")"
  echo "== building ${target} (${TOOLCHAIN}, --sanitizer ${SANITIZER}, ${args[*]})"
  if ! nice -n "${NICE}" "${fuzz[@]}" build --sanitizer "${SANITIZER}" "${args[@]}" "${target}"; then
    echo "the build failed" >&2
    exit 2
  fi
done

run_one() {
  local target=$1 log="target/long-$1.log" flags args
  mapfile -t flags < <(fuzz_flags "${target}" "${SANITIZER}")
  read -ra args <<<"$(build_args "${target}")"
  mkdir -p "corpus/${target}"
  {
    echo "# ${target}: ${RUNS} runs, ${flags[*]}, on ${commit}, from $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  } >"${log}"
  local start end rc
  start=$(date +%s)
  nice -n "${NICE}" "${fuzz[@]}" run --sanitizer "${SANITIZER}" "${args[@]}" \
    "${target}" "corpus/${target}" "seeds/${target}" -- \
    -runs="${RUNS}" -max_total_time="${MAX_SECONDS}" -print_final_stats=1 "${flags[@]}" >>"${log}" 2>&1
  rc=$?
  end=$(date +%s)
  echo "# exit ${rc} after $((end - start)) s, at $(date -u '+%Y-%m-%d %H:%M:%S UTC')" >>"${log}"
  echo "== ${target}: exit ${rc} after $((end - start)) s (log: fuzz/${log})"
}

# One line of the results table from a target's log.
summary() {
  local target=$1 log="target/long-$1.log"
  local runs secs rate peak done_line cov ft corp rc result
  runs=$(grep -a '^stat::number_of_executed_units:' "${log}" | awk '{print $2}' | tail -1)
  rate=$(grep -a '^stat::average_exec_per_sec:' "${log}" | awk '{print $2}' | tail -1)
  peak=$(grep -a '^stat::peak_rss_mb:' "${log}" | awk '{print $2}' | tail -1)
  secs=$(grep -a '^# exit ' "${log}" | awk '{print $5}' | tail -1)
  rc=$(grep -a '^# exit ' "${log}" | awk '{print $3}' | tail -1)
  done_line=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "${log}" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"${done_line}")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"${done_line}")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"${done_line}")
  if [ "${rc:-x}" = 0 ]; then
    result="0"
  else
    result="FAILED (exit ${rc:-?}): $(grep -aE 'ERROR: libFuzzer|panicked at|Test unit written' "${log}" | head -2 | tr '\n' ' ')"
  fi
  printf '| `%s` | %s | %s s | %s | %s / %s | %s | %s MB | %s |\n' \
    "${target}" "${runs:-?}" "${secs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${peak:-?}" "${result}"
}

failed=0
running=0
for target in ${TARGETS}; do
  if [ "${running}" -ge "${JOBS}" ]; then
    wait -n
    running=$((running - 1))
  fi
  echo "== ${target}: ${RUNS} runs, log in fuzz/target/long-${target}.log"
  run_one "${target}" &
  running=$((running + 1))
done
wait

echo
echo "Ran ${RUNS} executions per target on ${commit}, ${started} to $(date -u '+%H:%M UTC'):"
echo "$(rustc "+${TOOLCHAIN}" --version), $("${fuzz[@]}" --version), --sanitizer ${SANITIZER}, nice ${NICE}, ${JOBS} at a time."
echo
echo '| target | executions | time | exec/s | coverage (edges / features) | corpus at the end (inputs/bytes) | peak RSS | crashes |'
echo '|---|---|---|---|---|---|---|---|'
for target in ${TARGETS}; do
  line=$(summary "${target}")
  echo "${line}"
  [[ "${line}" == *FAILED* ]] && failed=1
done
exit "${failed}"
