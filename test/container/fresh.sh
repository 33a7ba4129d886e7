#!/usr/bin/env bash
# Fresh-machine test: the README's two commands in a bare container that has only Node and npm.
#
#   bash test/container/fresh.sh        (from anywhere; needs docker and git)
#
# A newcomer clones the repository onto a machine with Node and npm and nothing else (no curl,
# git, Chromium, Prometheus, promtool, Redis or Docker) and runs the Quick start. This does the
# same: a clean copy of the commit (`git archive`, so no node_modules, dist/ or untracked files)
# goes into a container of the base image alone, as an unprivileged user, with CI unset, and
#   test    `npm ci && npm test` must exit 0, and every test that needs a missing system program
#           must be skipped with its one line (`chromium missing: apt-get install chromium`);
#   start   `npm ci && npm start` must serve GET / (200, "Hello, world") on a free port of
#           127.0.0.1, and stop on SIGTERM.
#
# Base image: node:24-bookworm-slim, built by ../shared/tools/offline-node-image.sh when absent
# (machines without registry access; it also starts a Docker daemon), else pulled. The daemon may
# have no bridge: the build and the containers use the host network.
#
# Environment: FRESH_REV (commit to test, default HEAD), FRESH_BASE (default
# node:24-bookworm-slim), OFFLINE_NODE_IMAGE (path of the offline tool), FRESH_LOG (where to keep
# the full output of `npm test`, default a temporary file that is removed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD

REV=${FRESH_REV:-HEAD}
BASE=${FRESH_BASE:-node:24-bookworm-slim}
OFFLINE_TOOL=${OFFLINE_NODE_IMAGE:-$repo/../shared/tools/offline-node-image.sh}
IMAGE=tornode:fresh-machine
prefix="tornode-fresh-$$"

TAG=fresh-machine
# shellcheck source=test/container/lib.sh
source "$repo/test/container/lib.sh"

command -v git >/dev/null || die "git is not installed (it makes the clean copy)"
command -v node >/dev/null || die "node is not on PATH (the probes use it)"

# --- daemon, base image, the bare image -----------------------------------------------------------

if ! docker info >/dev/null 2>&1 || ! docker image inspect "$BASE" >/dev/null 2>&1; then
  if [[ -f $OFFLINE_TOOL ]]; then
    say "daemon or $BASE missing: $(basename "$OFFLINE_TOOL")"
    bash "$OFFLINE_TOOL" "$BASE" || die "could not get a daemon and $BASE"
  else
    timeout 600 docker pull "$BASE" || die "could not pull $BASE"
  fi
fi

# Nothing added but a home to work in: what `npm ci` finds is what a fresh machine has.
cat >"$tmp/Dockerfile" <<EOF
FROM $BASE
USER node
WORKDIR /home/node
EOF
DOCKER_BUILDKIT=0 docker build --network host --pull=false -t "$IMAGE" "$tmp" >"$tmp/build.log" 2>&1 \
  || { tail -20 "$tmp/build.log" >&2; die "docker build of the bare image failed"; }
absent=$(docker run --rm --network host "$IMAGE" sh -c \
  'for p in curl wget git chromium prometheus promtool redis-server docker kubectl; do command -v $p >/dev/null && echo $p; done; true')
if [[ -z $absent ]]; then ok "bare image: node $(docker run --rm --network host "$IMAGE" node --version), npm, no curl/wget/git/chromium/prometheus/promtool/redis-server/docker/kubectl"; else bad "the bare image has: $absent"; fi

git archive --format=tar -o "$tmp/source.tar" "$REV" || die "git archive $REV failed"
say "clean copy of $(git rev-parse --short "$REV") ($(tar -tf "$tmp/source.tar" | wc -l) files)"

# run_bare NAME COMMAND [docker args…]: a container of the bare image that unpacks the copy into
# ~/app and runs COMMAND there, with CI unset.
run_bare() {
  local name=$1 command=$2
  shift 2
  containers+=("$name")
  docker run -d --name "$name" --network host -v "$tmp/source.tar:/source.tar:ro" --env CI= "$@" \
    "$IMAGE" sh -c "mkdir app && tar -xf /source.tar -C app && cd app && unset CI && $command" >/dev/null
}

# --- npm ci && npm test ----------------------------------------------------------------------------

name="$prefix-test"
say "running 'npm ci && npm test' in $name (several minutes)"
t0=$(now_ms)
run_bare "$name" 'npm ci --no-audit --no-fund && npm test'
code=$(docker wait "$name")
test_s=$((($(now_ms) - t0) / 1000))
docker logs "$name" >"$tmp/test.log" 2>&1
[[ -n ${FRESH_LOG:-} ]] && cp "$tmp/test.log" "$FRESH_LOG"
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$tmp/test.log")
files=$(grep -E '^ +Test Files ' <<<"$plain" | tail -1 | sed 's/^ *//') || true
tests=$(grep -E '^ +Tests ' <<<"$plain" | tail -1 | sed 's/^ *//') || true
if [[ $code == 0 ]]; then
  ok "npm ci && npm test: exit 0 in $test_s s — $files; $tests"
else
  bad "npm ci && npm test: exit $code in $test_s s — ${files:-no summary}; ${tests:-}"
  grep -E 'FAIL|Error|✗|×' <<<"$plain" | head -40 >&2 || tail -40 <<<"$plain" >&2
fi
missing=$(grep -oE '^[a-z-]+ missing: .*' <<<"$plain" | sort -u) || true
for program in chromium prometheus promtool redis-server kubectl; do
  if grep -q "^$program missing: " <<<"$missing"; then
    ok "skip line: $(grep "^$program missing: " <<<"$missing" | head -1)"
  else
    bad "no '$program missing: …' line (its tests ran or failed without it?)"
  fi
done

# --- npm ci && npm start ---------------------------------------------------------------------------

port=$(free_port)
admin=$(free_port)
name="$prefix-start"
say "running 'npm ci && npm start' in $name on 127.0.0.1:$port"
run_bare "$name" 'npm ci --no-audit --no-fund && exec npm start' \
  -e "PORT=$port" -e "ADMIN_PORT=$admin" -e HOST=127.0.0.1 -e WORKERS=1
got=000
deadline=$(($(now_ms) + 300000)) # npm ci and the build come first
while (($(now_ms) < deadline)); do
  got=$(http_get "http://127.0.0.1:$port/")
  [[ ${got%% *} == 000 ]] || break
  [[ $(docker inspect -f '{{.State.Running}}' "$name") == true ]] || break
  sleep 0.5
done
if [[ $got == '200 Hello, world' ]]; then ok "npm ci && npm start: GET / → $got"; else
  bad "npm ci && npm start: GET / → $got"
  docker logs "$name" 2>&1 | tail -20 >&2
fi
docker stop -t 10 "$name" >/dev/null
stopped=$(docker inspect -f '{{.State.Running}}' "$name")
if [[ $stopped == false ]]; then ok "npm start stopped by SIGTERM"; else bad "npm start still running after docker stop"; fi

say "summary: $passed passed, $failed failed"
((failed == 0))
