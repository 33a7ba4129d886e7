#!/usr/bin/env bash
# Interleaved A/B of server variants: server CPU µs per request and req/s, medians of ROUNDS.
#
#   bench/tools/ab.sh ROUNDS 'label|ENV=1 OTHER=2|path/to/server.mjs' 'label2||other.mjs' …
#
# Each server runs alone on CPU 0 (PORT=$AB_PORT, default 3999, HOST=127.0.0.1), wrk -t1 -c64 on CPU 1: 1 s of
# warm-up, then SECONDS_MEASURED (3) seconds measured; CPU time from /proc/PID/stat. URLPATH (/)
# and WRKARGS (for example "-s post.lua") pass through to wrk. Needs wrk, taskset, curl, bc.
set -euo pipefail
rounds=$1
shift
seconds=${SECONDS_MEASURED:-3}
port=${AB_PORT:-3999}
url="http://127.0.0.1:${port}${URLPATH:-/}"
declare -A cpu rps
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS='|' read -r label envs server <<<"$spec"
    # shellcheck disable=SC2086
    env $envs PORT=$port HOST=127.0.0.1 SHUTDOWN_DELAY_MS=0 taskset -c 0 node "$server" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 600); do curl -sf -o /dev/null "$url" && break || sleep 0.05; done
    # shellcheck disable=SC2086
    taskset -c 1 wrk -t1 -c64 -d1s ${WRKARGS:-} "$url" >/dev/null
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    # shellcheck disable=SC2086
    r=$(taskset -c 1 wrk -t1 -c64 "-d${seconds}s" ${WRKARGS:-} "$url" | awk '/^Requests\/sec/{print $2}')
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ticks=$(getconf CLK_TCK)
    cpu[$label]="${cpu[$label]:-} $(echo "($t1-$t0)*1000000/$ticks/($r*$seconds)" | bc -l | xargs printf '%.2f')"
    rps[$label]="${rps[$label]:-} $(printf '%.0f' "$r")"
  done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for spec in "$@"; do
  IFS='|' read -r label _ _ <<<"$spec"
  echo "$label: $(echo "${cpu[$label]}" | median) µs CPU/req, $(echo "${rps[$label]}" | median) req/s  [${cpu[$label]} ]"
done
