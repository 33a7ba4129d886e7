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
# --enable-source-maps: stack traces in the logs name the TypeScript files and lines (dist/ keeps
# its .map files); cluster workers inherit the flag.
ENTRYPOINT []
CMD ["node", "--enable-source-maps", "dist/main.js"]
