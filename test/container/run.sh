#!/usr/bin/env bash
# Container test: builds the image from the Dockerfile and runs it for real.
#
#   bash test/container/run.sh        (from anywhere; needs docker and node on PATH)
#
# What it checks (any failure → exit 1, after every check has run and the containers are gone):
#   image    USER is not root, CMD is exec-form `node dist/main.js` with no entrypoint (node is
#            PID 1, not npm or a shell), the source maps ship (with --enable-source-maps stack
#            traces map to the TypeScript sources), NODE_ENV=production, EXPOSE 8080, a HEALTHCHECK without
#            curl/wget, no sources/tests/dev dependencies inside, size within MAX_IMAGE_DELTA_MB of
#            the base image (MB = 10^6 bytes, as docker prints them)
#   cluster  --read-only --cap-drop ALL, WORKERS=2 on a free port (host network, 127.0.0.1):
#            /readyz 200, GET / 200, PID 1 is node, every process uid ≠ 0, two workers
#            (processes, logs, cluster_workers), HEALTHCHECK healthy on that PORT, nothing written
#            to the filesystem, `docker stop` → exit 0 in under STOP_LIMIT_MS, stdout all JSON,
#            stderr empty
#   single   WORKERS=1 (node alone as PID 1): /readyz 200, `docker stop` → exit 0 in time
#   sigint   WORKERS=2, `docker kill --signal INT` → exit 0
#
# Base image: used when present; otherwise built by ../shared/tools/offline-node-image.sh when that
# script exists (machines without registry access; it also starts a Docker daemon if none
# answers), else pulled with `docker pull`. The build uses the classic builder (DOCKER_BUILDKIT=0)
# and the layer cache; containers use the host network, so no bridge is needed.
#
# Environment: IMAGE (tag to build, default tornode:container-test), OFFLINE_NODE_IMAGE (path of
# the offline tool), MAX_IMAGE_DELTA_MB (default 30), STOP_LIMIT_MS (default 5000).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD

IMAGE=${IMAGE:-tornode:container-test}
OFFLINE_TOOL=${OFFLINE_NODE_IMAGE:-$repo/../shared/tools/offline-node-image.sh}
MAX_IMAGE_DELTA_MB=${MAX_IMAGE_DELTA_MB:-30}
STOP_LIMIT_MS=${STOP_LIMIT_MS:-5000}
prefix="tornode-ct-$$"

TAG=container-test
# shellcheck source=test/container/lib.sh
source "$repo/test/container/lib.sh"

command -v docker >/dev/null || [[ -f $OFFLINE_TOOL ]] || die "docker is not installed"
command -v node >/dev/null || die "node is not on PATH (the test's helpers use it)"

# wait_status URL STATUS CONTAINER SECONDS: polls until URL answers STATUS; fails early if the
# container exits.
wait_status() {
  local url=$1 want=$2 container=$3 deadline=$(($(now_ms) + $4 * 1000)) got
  while (($(now_ms) < deadline)); do
    got=$(http_get "$url")
    [[ ${got%% *} == "$want" ]] && return 0
    [[ $(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null) == true ]] || {
      say "$container exited; its logs:"
      docker logs "$container" 2>&1 | tail -20 >&2
      return 1
    }
    sleep 0.2
  done
  say "$url still answers '${got:-nothing}' after $4 s"
  return 1
}

# run_container NAME ENV...: starts the image the way production should (read-only root, no
# capabilities, no privilege escalation), on the host network, with a 1 s health interval so the
# HEALTHCHECK result shows quickly. Prints nothing; the name is registered for clean-up.
run_container() {
  local name=$1
  shift
  local args=()
  local kv
  for kv in "$@"; do args+=(-e "$kv"); done
  containers+=("$name")
  docker run -d --name "$name" --network host --read-only --cap-drop ALL \
    --security-opt no-new-privileges --health-interval 1s "${args[@]}" "$IMAGE" >/dev/null
}

# stop_container NAME HOW: `stop` (docker stop: SIGTERM, SIGKILL after 10 s) or `INT`
# (docker kill --signal INT, then wait). Prints "EXITCODE MILLISECONDS".
stop_container() {
  local name=$1 how=$2 t0 t1
  t0=$(now_ms)
  if [[ $how == stop ]]; then
    docker stop "$name" >/dev/null
  else
    docker kill --signal "$how" "$name" >/dev/null
    timeout 15 docker wait "$name" >/dev/null || true
  fi
  t1=$(now_ms)
  echo "$(docker inspect -f '{{.State.ExitCode}}' "$name") $((t1 - t0))"
}

# check_logs NAME WORKERS: every stdout line is a JSON log line; stderr is empty; the listening
# line and (in cluster mode) one `worker started` line per worker are there. Prints a summary;
# non-zero exit on a failed check.
cat >"$tmp/check-logs.mjs" <<'EOF'
import { readFileSync } from 'node:fs';
const [stdoutFile, stderrFile, workersArg] = process.argv.slice(2);
const workers = Number(workersArg);
const problems = [];
const lines = readFileSync(stdoutFile, 'utf8').split('\n').filter((l) => l !== '');
const logs = [];
for (const line of lines) {
  try {
    const value = JSON.parse(line);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error();
    for (const key of ['level', 'time', 'msg', 'service', 'version', 'pid']) {
      if (!(key in value)) problems.push(`log line without "${key}": ${line}`);
    }
    logs.push(value);
  } catch {
    problems.push(`stdout line is not a JSON object: ${line}`);
  }
}
const stderr = readFileSync(stderrFile, 'utf8');
if (stderr.trim() !== '') problems.push(`stderr is not empty:\n${stderr}`);
if (!logs.some((l) => /listening/.test(l.msg))) problems.push('no "listening" line');
const started = new Set(logs.filter((l) => /worker started/.test(l.msg)).map((l) => l.workerId));
if (workers > 1 && started.size !== workers) {
  problems.push(`${started.size} distinct "worker started" lines, expected ${workers}`);
}
if (!logs.some((l) => l.pid === 1)) problems.push('no line logged by PID 1');
for (const p of problems) console.error(p);
console.log(`${lines.length} stdout lines, all JSON: ${problems.length === 0 ? 'yes' : 'no'}`);
process.exit(problems.length === 0 ? 0 : 1);
EOF

# --- Docker daemon and base image ---------------------------------------------------------------

# The runtime stage's base: the last FROM, with ${NODE_IMAGE} replaced by the ARG's default.
base=$(awk 'toupper($1) == "ARG" && $2 ~ /^NODE_IMAGE=/ { sub(/^NODE_IMAGE=/, "", $2); arg = $2 }
  toupper($1) == "FROM" { image = $2 }
  END { gsub(/\$\{NODE_IMAGE\}/, arg, image); print image }' Dockerfile)
[[ -n $base ]] || die "no FROM line in the Dockerfile"

if ! docker info >/dev/null 2>&1; then
  [[ -f $OFFLINE_TOOL ]] || die "no Docker daemon answers (and no $OFFLINE_TOOL to start one)"
  say "no Docker daemon answers: starting one with $(basename "$OFFLINE_TOOL")"
  bash "$OFFLINE_TOOL" "$base"
fi
if docker image inspect "$base" >/dev/null 2>&1; then
  say "base image $base is present"
elif [[ -f $OFFLINE_TOOL ]]; then
  say "base image $base is missing: building a local stand-in with $(basename "$OFFLINE_TOOL")"
  bash "$OFFLINE_TOOL" "$base" || die "could not build the base image $base"
else
  say "base image $base is missing: docker pull"
  timeout 600 docker pull "$base" || die "could not pull the base image $base"
fi

# --- build --------------------------------------------------------------------------------------

say "building $IMAGE (classic builder, --network host --pull=false)"
t0=$(now_ms)
if ! DOCKER_BUILDKIT=0 timeout 900 docker build --network host --pull=false -t "$IMAGE" . \
  >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log" >&2
  die "docker build failed"
fi
build_ms=$(($(now_ms) - t0))
say "built in $((build_ms / 1000)) s ($(grep -c 'Using cache' "$tmp/build.log" || true) steps from the layer cache)"

# --- the image's configuration ------------------------------------------------------------------

inspect() { docker image inspect -f "$1" "$IMAGE"; }
user=$(inspect '{{.Config.User}}')
if [[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]]; then ok "USER $user (not root)"; else bad "USER is '${user}' (root)"; fi
cmd=$(inspect '{{json .Config.Cmd}}')
entrypoint=$(inspect '{{json .Config.Entrypoint}}')
if [[ $cmd == '["node","dist/main.js"]' && ($entrypoint == null || $entrypoint == '[]') ]]; then
  ok "CMD $cmd, no ENTRYPOINT (node is PID 1)"
else
  bad "CMD $cmd ENTRYPOINT $entrypoint (want exec-form node dist/main.js, no entrypoint)"
fi
# With --enable-source-maps (NODE_OPTIONS), a stack trace thrown by the image's own code names the
# TypeScript source: the source maps ship.
trace=$(docker run --rm --network none --read-only --cap-drop ALL "$IMAGE" \
  node --enable-source-maps --input-type=module -e "
    const { loadConfig } = await import('/app/dist/service/config.js');
    try { loadConfig({ PORT: 'abc' }); } catch (error) { console.log(error.stack.split('\n')[1].trim()); }" 2>&1 || true)
if [[ $trace =~ /src/service/config(-variables)?\.ts:[0-9]+ ]]; then ok "stack traces map to TypeScript: $trace"; else bad "stack trace not mapped: $trace"; fi
if inspect '{{json .Config.Env}}' | grep -q '"NODE_ENV=production"'; then ok "NODE_ENV=production"; else bad "NODE_ENV is not production"; fi
if inspect '{{json .Config.ExposedPorts}}' | grep -q '"8080/tcp"'; then ok "EXPOSE 8080"; else bad "8080/tcp is not exposed"; fi
healthcheck=$(inspect '{{json .Config.Healthcheck}}')
if [[ $healthcheck == null ]]; then
  bad "no HEALTHCHECK"
elif grep -qE 'curl|wget' <<<"$healthcheck"; then
  bad "the HEALTHCHECK uses curl/wget: $healthcheck"
else
  ok "HEALTHCHECK with node itself"
fi

image_bytes=$(inspect '{{.Size}}')
base_bytes=$(docker image inspect -f '{{.Size}}' "$base")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; } # MB as docker prints them (10^6 bytes)
size_line="image $(mb "$image_bytes") MB, base $base $(mb "$base_bytes") MB, added $(mb $((image_bytes - base_bytes))) MB"
if ((image_bytes - base_bytes <= MAX_IMAGE_DELTA_MB * 1000000)); then ok "$size_line (limit $MAX_IMAGE_DELTA_MB MB)"; else bad "$size_line (limit $MAX_IMAGE_DELTA_MB MB)"; fi

# What is inside /app: only dist/, the production node_modules, package.json and static/ (the chat
# page's files).
if content=$(docker run --rm --network none --read-only --cap-drop ALL "$IMAGE" node -e "
  const fs = require('node:fs');
  const path = require('node:path');
  const problems = [];
  const top = fs.readdirSync('/app').sort().join(' ');
  if (top !== 'dist node_modules package.json static') problems.push('/app holds: ' + top);
  const pkg = JSON.parse(fs.readFileSync('/app/package.json', 'utf8'));
  for (const dep of Object.keys(pkg.devDependencies ?? {})) {
    if (fs.existsSync(path.join('/app/node_modules', dep))) problems.push('dev dependency ' + dep);
  }
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (!fs.existsSync(path.join('/app/node_modules', dep))) problems.push('missing dependency ' + dep);
  }
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
  const distFiles = walk('/app/dist');
  // dist/vendor/: the schema libraries bundled by npm run build (scripts/bundle-vendor.mjs).
  const allowed = (f) => /\.js(\.map)?$/.test(f) || /^\/app\/dist\/vendor\/[a-z-]+\.cjs$/.test(f);
  for (const f of distFiles) if (!allowed(f)) problems.push('unexpected file ' + f);
  if (!distFiles.includes('/app/dist/main.js')) problems.push('no dist/main.js');
  for (const f of ['typebox-type.cjs', 'schema-validation.cjs'])
    if (!distFiles.includes('/app/dist/vendor/' + f)) problems.push('no dist/vendor/' + f);
  const staticFiles = walk('/app/static');
  for (const f of staticFiles) if (!/\.(html|js|css|svg)$/.test(f)) problems.push('unexpected file ' + f);
  if (!staticFiles.includes('/app/static/chat.html')) problems.push('no static/chat.html');
  for (const p of ['/app/src', '/app/test', '/app/tsconfig.json']) if (fs.existsSync(p)) problems.push(p);
  if (problems.length) { console.log(problems.join('; ')); process.exit(1); }
  console.log(distFiles.length + ' files in dist/, ' + Object.keys(pkg.dependencies).length + ' production dependencies, no dev dependencies');
" 2>&1); then
  ok "contents: $content"
else
  bad "contents: $content"
fi

# --- cluster mode (WORKERS=2), SIGTERM via docker stop -----------------------------------------

port=$(free_port)
name="$prefix-cluster"
say "running $name: WORKERS=2 PORT=$port --read-only --cap-drop ALL"
run_container "$name" "PORT=$port" HOST=127.0.0.1 WORKERS=2
origin="http://127.0.0.1:$port"
if wait_status "$origin/readyz" 200 "$name" 20; then
  ok "/readyz 200"
  got=$(http_get "$origin/")
  if [[ ${got%% *} == 200 ]]; then ok "GET / → $got"; else bad "GET / → $got"; fi
  # The chat page and its files (static/ copied into the image).
  for path in /chat/ /static/chat.js /static/chat.css; do
    got=$(http_get "$origin$path")
    if [[ ${got%% *} == 200 ]]; then ok "GET $path → 200"; else bad "GET $path → ${got:0:80}"; fi
  done

  pid1=$(docker exec "$name" cat /proc/1/cmdline | tr '\0' ' ' || true)
  if [[ $pid1 == 'node dist/main.js ' ]]; then ok "PID 1 is '${pid1% }'"; else bad "PID 1 is '$pid1'"; fi

  docker top "$name" -eo uid,pid,ppid,args >"$tmp/top.txt" || true
  processes=$(awk 'NR > 1' "$tmp/top.txt")
  uids=$(awk 'NR > 1 { print $1 }' "$tmp/top.txt" | sort -u | tr '\n' ' ')
  nodes=$(grep -c 'dist/main.js' <<<"$processes" || true)
  if awk 'NR > 1 && $1 == 0 { found = 1 } END { exit !found }' "$tmp/top.txt"; then
    bad "a process runs as uid 0: $processes"
  else
    ok "process uids: ${uids% } (none is 0)"
  fi
  if ((nodes == 3)); then ok "3 node processes: the primary and 2 workers"; else bad "$nodes node processes, expected 3:"$'\n'"$processes"; fi

  workers_metric=$(node -e "
    fetch(process.argv[1]).then((r) => r.text()).then((t) => {
      const m = /^cluster_workers (\S+)$/m.exec(t); console.log(m ? m[1] : 'absent');
    }, () => console.log('unreachable'));" "$origin/metrics")
  if [[ $workers_metric == 2 ]]; then ok "cluster_workers 2"; else bad "cluster_workers is $workers_metric"; fi

  health=starting
  deadline=$(($(now_ms) + 15000))
  while (($(now_ms) < deadline)); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$name")
    [[ $health == starting ]] || break
    sleep 0.3
  done
  if [[ $health == healthy ]]; then ok "HEALTHCHECK: healthy on PORT=$port"; else bad "HEALTHCHECK: $health"; fi

  changes=$(docker diff "$name" || echo '(docker diff failed)')
  if [[ -z $changes ]]; then ok "nothing written to the container's filesystem"; else bad "files written: $changes"; fi

  read -r code ms < <(stop_container "$name" stop) || true
  if [[ $code == 0 && $ms -lt $STOP_LIMIT_MS ]]; then ok "docker stop: exit $code in $ms ms"; else bad "docker stop: exit $code in $ms ms (want 0 in < $STOP_LIMIT_MS ms)"; fi
  stop_cluster="exit $code in $ms ms"

  docker logs "$name" >"$tmp/out.log" 2>"$tmp/err.log"
  if summary=$(node "$tmp/check-logs.mjs" "$tmp/out.log" "$tmp/err.log" 2 2>&1); then ok "logs: $summary"; else bad "logs: $summary"; fi
else
  bad "/readyz did not answer 200 (WORKERS=2)"
fi

# --- one process (WORKERS=1): node alone as PID 1 ------------------------------------------------

port=$(free_port)
name="$prefix-single"
say "running $name: WORKERS=1 PORT=$port"
run_container "$name" "PORT=$port" HOST=127.0.0.1 WORKERS=1
if wait_status "http://127.0.0.1:$port/readyz" 200 "$name" 20; then
  ok "/readyz 200 (WORKERS=1)"
  read -r code ms < <(stop_container "$name" stop) || true
  if [[ $code == 0 && $ms -lt $STOP_LIMIT_MS ]]; then ok "docker stop (WORKERS=1): exit $code in $ms ms"; else bad "docker stop (WORKERS=1): exit $code in $ms ms"; fi
  stop_single="exit $code in $ms ms"
  docker logs "$name" >"$tmp/out.log" 2>"$tmp/err.log"
  if summary=$(node "$tmp/check-logs.mjs" "$tmp/out.log" "$tmp/err.log" 1 2>&1); then ok "logs (WORKERS=1): $summary"; else bad "logs (WORKERS=1): $summary"; fi
else
  bad "/readyz did not answer 200 (WORKERS=1)"
fi

# --- SIGINT (Ctrl-C, docker kill --signal INT) to the cluster primary --------------------------

port=$(free_port)
name="$prefix-sigint"
say "running $name: WORKERS=2 PORT=$port, then SIGINT"
run_container "$name" "PORT=$port" HOST=127.0.0.1 WORKERS=2
if wait_status "http://127.0.0.1:$port/readyz" 200 "$name" 20; then
  read -r code ms < <(stop_container "$name" INT) || true
  if [[ $code == 0 && $ms -lt $STOP_LIMIT_MS ]]; then ok "SIGINT: exit $code in $ms ms"; else bad "SIGINT: exit $code in $ms ms"; fi
else
  bad "/readyz did not answer 200 (SIGINT run)"
fi

# --- summary ------------------------------------------------------------------------------------

say "measured: build $((build_ms / 1000)) s; $size_line; docker stop WORKERS=2 ${stop_cluster:-n/a}, WORKERS=1 ${stop_single:-n/a}"
echo "container test: $passed passed, $failed failed"
((failed == 0))
