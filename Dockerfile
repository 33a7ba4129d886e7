# The service's container image. Three stages:
#   build       npm ci (all dependencies) and tsc → dist/
#   prod-deps   npm ci --omit=dev → node_modules with production dependencies only
#   runtime     the official Debian slim Node.js image (Node 24 LTS, pinned by major version) with
#               dist/, static/ (the chat page's files), the production node_modules and package.json
#               (the logs' `version` is read from it at run time); no sources, tests, dev
#               dependencies or npm cache.
#
# Builds with the classic builder as well as BuildKit (no `# syntax=` line, no RUN --mount).
#   docker build -t tornode:0.1.0 .
#   docker run --rm -p 8080:8080 tornode:0.1.0
# No --init is needed: the service handles SIGTERM/SIGINT itself as PID 1, and the cluster primary
# reaps its own workers (it starts no other processes). See docs/deploy.md.
#
# The base image is a build argument so that it can be pinned by digest: a tag moves when Node or
# Debian ship a fix, a digest does not. For reproducible production builds, pin it and let a bot
# (Renovate, Dependabot) bump the digest:
#   docker buildx imagetools inspect node:24-bookworm-slim      # prints the index digest
#   docker build --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:<digest> -t tornode .
# The default is the tag alone, so the image also builds where only a local copy of the base image
# exists (no registry): a locally built or loaded image has no registry digest to match.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/package-bundle.mjs scripts/bundle-vendor.mjs scripts/precompile-schemas.mjs scripts/bundle-service.mjs ./scripts/
COPY src ./src
# Declarations and the incremental build info are of no use at run time; source maps stay (small,
# they map stack traces to the TypeScript file names with --enable-source-maps).
RUN npm run build \
 && find dist -name '*.d.ts' -delete \
 && rm -f dist/.tsbuildinfo

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# What Node never reads at run time goes: source maps and type declarations of the dependencies,
# and the `esnext` builds some packages ship for bundlers (OpenTelemetry's). About 30 MB.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete \
 && find node_modules -type d -path '*/build/esnext' -prune -exec rm -rf {} + \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the service's user: the process cannot modify its own code.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The chat page's HTML, script and styles (served at /chat/ and /static/).
COPY static ./static
COPY package.json ./
# Node's module compile cache (src/main.ts turns it on): V8's compiled code of every module the
# service loads, made here once by starting the service until it is ready, so that no start in
# production compiles them again (a tenth of start-up). It is made as the service's user (Node
# names the cache's directory by version and uid; another uid finds none and starts without),
# then handed to root: the service reads it and cannot change it, like its code. Outside /app.
ENV NODE_COMPILE_CACHE=/var/cache/node-compile-cache
RUN mkdir -m 0777 "$NODE_COMPILE_CACHE" \
 && NODE_DISABLE_COMPILE_CACHE=1 node -e "const c = require('node:child_process').spawn('node', ['dist/main.js'], { uid: 1000, gid: 1000, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: undefined, WORKERS: '1', PORT: '0', HOST: '127.0.0.1' } }); \
      let out = ''; c.stdout.on('data', (d) => { out += d; if (out.includes('listening')) c.kill('SIGTERM'); }); \
      c.on('exit', (code) => process.exit(code ?? 1)); setTimeout(() => c.kill('SIGKILL'), 60000).unref();" \
 && chown -R root:root "$NODE_COMPILE_CACHE" \
 && chmod -R u=rwX,go=rX "$NODE_COMPILE_CACHE" \
 && test -n "$(find "$NODE_COMPILE_CACHE" -type f | head -n 1)"
# The unprivileged `node` user of the base image, numerically, so that Kubernetes' runAsNonRoot can
# verify it without a runAsUser.
USER 1000:1000
EXPOSE 8080
# Node itself probes (the image has no curl), on the configured PORT and HOST. /livez: the process
# answers; it does not depend on readiness checks, so a failing dependency does not mark the
# container unhealthy (and Swarm does not replace it for that).
HEALTHCHECK --interval=15s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const h=(process.env.HOST||'').trim();const host=!h||h==='0.0.0.0'||h==='::'?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+host+':'+((process.env.PORT||'').trim()||'8080')+'/livez',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 directly (the official image's docker-entrypoint.sh is bypassed), never npm.
# No --enable-source-maps: Node then parses every loaded file's source map as it loads, which
# costs ~8 MiB of idle memory per process and ~30 ms of start-up (bench/analysis.md, "Idle
# memory"), and slows every read of an error's stack. Stack traces name dist/'s files (the
# service's own code is not minified); the source maps ship, so NODE_OPTIONS=--enable-source-maps
# maps them to the TypeScript files and lines when wanted (cluster workers inherit it).
ENTRYPOINT []
CMD ["node", "dist/main.js"]
