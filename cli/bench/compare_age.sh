#!/bin/bash
# ratchetkit against age on one file, side by side: CPU time (user + sys) and peak RSS under
# /usr/bin/time, the two tools and the two sizes interleaved, medians of ROUNDS rounds.
# The table in docs/CLI.md comes from this script.
#
# Usage: cli/bench/compare_age.sh [RATCHETKIT_BINARY]   (run from anywhere)
# Needs age and age-keygen (Debian: apt-get install -y age), GNU time, python3.
# Environment: ROUNDS (default 7), SIZE_MIB (default 1024), WORK (default a new temp dir).
set -euo pipefail
RK=$(realpath "${1:-target/release/ratchetkit}")
ROUNDS=${ROUNDS:-7}
SIZE_MIB=${SIZE_MIB:-1024}
WORK=${WORK:-$(mktemp -d)}
cd "$WORK"
echo "working in $WORK; $(age --version 2>&1 | head -1) against $RK" >&2
export RATCHETKIT_PASSWORD=bench-password
[ -f big ] || head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > big
: > empty
[ -f alice.key ] || { "$RK" keygen --name alice --out alice.key; "$RK" keygen --name bob --out bob.key; } 2>/dev/null
[ -f age.key ] || age-keygen -o age.key 2>/dev/null
AGE_R=$(age-keygen -y age.key)
for input in big empty; do
  [ -f $input.rk ] || "$RK" seal --key alice.key --to bob.card $input $input.rk 2>/dev/null
  [ -f $input.age ] || age -r "$AGE_R" -o $input.age $input
done
: > results.txt
measure() { # label, command...
  local label=$1; shift
  rm -f out
  /usr/bin/time -f "%U %S %M %e" -o time.txt "$@" >/dev/null 2>/dev/null
  echo "$label $(cat time.txt)" >> results.txt
  rm -f out
}
for _ in $(seq "$ROUNDS"); do
  measure "ratchetkit seal, ${SIZE_MIB} MiB" "$RK" seal --key alice.key --to bob.card big out
  measure "age -r, ${SIZE_MIB} MiB" age -r "$AGE_R" -o out big
  measure "ratchetkit open, ${SIZE_MIB} MiB" "$RK" open --key bob.key --from alice.card big.rk out
  measure "age -d, ${SIZE_MIB} MiB" age -d -i age.key -o out big.age
  measure "ratchetkit seal, empty" "$RK" seal --key alice.key --to bob.card empty out
  measure "age -r, empty" age -r "$AGE_R" -o out empty
  measure "ratchetkit open, empty" "$RK" open --key bob.key --from alice.card empty.rk out
  measure "age -d, empty" age -d -i age.key -o out empty.age
  measure "dd bs=64k copy, ${SIZE_MIB} MiB" dd if=big of=out bs=64k
done
python3 - results.txt <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    *label, user, system, rss, wall = line.split()
    rows[" ".join(label)].append((float(user), float(system), int(rss), float(wall)))
print("| command | CPU (user + sys), s | peak RSS, MB | wall, s | runs |")
print("|---|---|---|---|---|")
for label, runs in rows.items():
    median = lambda values: statistics.median(values)
    user, system = median(r[0] for r in runs), median(r[1] for r in runs)
    cpu = median(r[0] + r[1] for r in runs)
    rss = median(r[2] for r in runs) / 1024
    wall = median(r[3] for r in runs)
    print(f"| {label} | {cpu:.2f} ({user:.2f} + {system:.2f}) | {rss:.1f} | {wall:.2f} | {len(runs)} |")
PY
