# Shared by the container tests (run.sh, fresh.sh): reporting, clean-up of the containers they
# start, and small probes written in node (the same on every machine that runs this project).
# The sourcing script sets TAG (the prefix of its lines) first and appends to `containers`.

say() { printf '[%s] %s\n' "$TAG" "$*"; }
ok() { printf '[%s] ok    %s\n' "$TAG" "$*"; passed=$((passed + 1)); }
bad() { printf '[%s] FAIL  %s\n' "$TAG" "$*" >&2; failed=$((failed + 1)); }
die() { printf '[%s] FATAL %s\n' "$TAG" "$*" >&2; exit 1; }
passed=0
failed=0

tmp=$(mktemp -d)
containers=()
cleanup() {
  local c
  for c in ${containers[@]+"${containers[@]}"}; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { date +%s%3N; }

# A TCP port that nothing listens on right now (on 127.0.0.1).
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# http_get URL → prints "STATUS BODY" (status 000 when the connection fails); 2 s timeout.
http_get() {
  node -e "
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then(async (r) => console.log(r.status + ' ' + (await r.text()).trim().slice(0, 200)))
      .catch(() => console.log('000'));" "$1"
}
