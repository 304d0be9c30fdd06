# The libFuzzer flags of each target, shared by .ci/run and fuzz/long_run.sh (source it):
# large inputs, and memory and time limits that make amplification a crash.
#
#   fuzz_flags TARGET SANITIZER   prints the flags, one a line
#
# -max_len: 1 MiB, and 4 MiB where genuine inputs are that large (saved state, sealed
#   messages, first messages); -len_control=0 lets mutations reach it at once (libFuzzer
#   otherwise grows the length limit by a few bytes at a time). The targets' amplifying
#   mutation (fuzz/src/amplify.rs) fills it.
# -malloc_limit_mb: 16 times -max_len, for any single allocation (genuine inputs at
#   -max_len allocate at most about their size at once). Under AddressSanitizer only:
#   without a sanitizer libFuzzer has no malloc hooks and ignores it; the targets' own heap
#   budget (fuzz/src/budget.rs) holds in both builds.
# -rss_limit_mb: the process. AddressSanitizer keeps up to 256 MiB of freed memory in
#   quarantine, so its runs reach about 500 MiB on genuine inputs; without it, under 100.
# -timeout: per input. The largest genuine saved state (a prekey store of 10,000 one-time
#   prekeys) takes 13 s to load three times under AddressSanitizer; everything else well
#   under a second.
fuzz_flags() {
  local target=$1 sanitizer=$2 max_len timeout=30 rss=512
  [ "${sanitizer}" = address ] && rss=1024
  case "${target}" in
    # Structure-aware: libFuzzer's defaults (its inputs are operation lists).
    conversation) return 0 ;;
    state | sealed_open | channel_join) max_len=$((4 << 20)) ;;
    *) max_len=$((1 << 20)) ;;
  esac
  [ "${target}" = state ] && timeout=60
  printf '%s\n' "-max_len=${max_len}" -len_control=0 \
    "-malloc_limit_mb=$(((max_len >> 20) * 16))" "-rss_limit_mb=${rss}" "-timeout=${timeout}"
}
