#!/usr/bin/env bash
# `npm audit` of the production dependencies (what the container ships).
#
# Exit 0: the audit ran and found no high or critical advisory (counts printed).
# Exit 1: the audit ran and found at least one high or critical advisory (listed).
# Exit 2: the audit could not run (the registry's audit endpoint is unreachable or refused the
#         request): NOT a pass. The reason is printed; decide in CI whether that is fatal.
set -uo pipefail
cd "$(dirname "$0")/../.."

json="$(npm audit --omit=dev --json 2>/dev/null)"
printf '%s' "$json" | node -e '
let text = "";
process.stdin.on("data", (c) => (text += c));
process.stdin.on("end", () => {
  let report;
  try {
    report = JSON.parse(text);
  } catch {
    console.log("npm audit NOT RUN: no JSON answer from npm audit");
    process.exit(2);
  }
  const counts = report?.metadata?.vulnerabilities;
  if (counts === undefined) {
    const why = report?.message ?? report?.error?.summary ?? JSON.stringify(report).slice(0, 300);
    console.log(`npm audit NOT RUN: ${why}`);
    process.exit(2);
  }
  const deps = report.metadata.dependencies?.prod ?? report.metadata.dependencies?.total;
  console.log(`npm audit --omit=dev: ${deps ?? "?"} production dependencies; vulnerabilities ${JSON.stringify(counts)}`);
  const bad = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) =>
    ["high", "critical"].includes(v.severity),
  );
  for (const [name, v] of bad) {
    const via = v.via.map((x) => (typeof x === "string" ? x : `${x.title} ${x.url}`)).join("; ");
    console.log(`  ${v.severity}: ${name} ${v.range}: ${via}`);
  }
  process.exit(counts.high + counts.critical > 0 ? 1 : 0);
});
'
