/**
 * What the manifest tests share: the schemas (models) of the kinds k8s/ may contain, the strict
 * field check, and small readers of rendered objects (selectors, quantities, a container's
 * environment as the kubelet gives it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import ts from 'typescript';
import { expect } from 'vitest';
import { type K8sObject, objectId, render } from './kustomize.js';

/** The repository's root directory. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The manifests' directory. */
export const K8S = path.join(ROOT, 'k8s');

/** What `kubectl apply -k` is documented for (docs/deploy.md). */
export const TARGETS = [
  'k8s/base',
  'k8s/overlays/monitoring',
  'k8s/overlays/managed-redis',
] as const;
/** The targets that run Redis in the cluster (the others use a managed one). */
export const IN_CLUSTER_REDIS = ['k8s/base', 'k8s/overlays/monitoring'] as const;

/** The object kinds the manifests may contain, with their schema (model) and TypeScript type. */
export const MODELS: Record<
  string,
  { model: new (data: never) => { validate(): void }; type: string }
> = {
  'v1/ServiceAccount': { model: ServiceAccount, type: 'kubernetes-models/v1/ServiceAccount' },
  'v1/Service': { model: Service, type: 'kubernetes-models/v1/Service' },
  'v1/ConfigMap': { model: ConfigMap, type: 'kubernetes-models/v1/ConfigMap' },
  'apps/v1/Deployment': { model: Deployment, type: 'kubernetes-models/apps/v1/Deployment' },
  'apps/v1/StatefulSet': { model: StatefulSet, type: 'kubernetes-models/apps/v1/StatefulSet' },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    type: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    type: 'kubernetes-models/policy/v1/PodDisruptionBudget',
  },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    type: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    model: PrometheusRule,
    type: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    type: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  },
};

/** The key of {@link MODELS} for an object: `apps/v1/Deployment`. */
export const modelKey = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

/** Every target of {@link TARGETS}, rendered by this project's renderer. */
export const rendered = Object.fromEntries(
  TARGETS.map((dir) => [dir, render(path.join(ROOT, dir))]),
) as Record<(typeof TARGETS)[number], K8sObject[]>;

// --- small helpers for reading the objects ------------------------------------------------------

/** A rendered object or part of one, read without types (the schemas check the shapes). */
// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON; the schemas check shapes.
export type Json = any;

/** The one object of `kind` in `objects` (fails the test when there are none or several). */
export function only(objects: K8sObject[], kind: string): Json {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map(objectId), `exactly one ${kind}`).toHaveLength(1);
  return found[0];
}

/** Whether a `matchLabels` selector selects an object with these labels. */
export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Kubernetes quantities: `500m` → 0.5, `2` → 2, `512Mi` → 536870912. */
export function quantity(value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value));
  if (!match) throw new Error(`not a quantity I can read: ${value}`);
  const factor: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(match[1]) * (match[2] ? (factor[match[2]] ?? Number.NaN) : 1);
}

/**
 * The container's environment as the kubelet would give it: downward API resolved, a Secret's
 * value shown as `<secret NAME/KEY>`, and `$(NAME)` of a variable defined earlier expanded.
 */
export function resolvedEnv(pod: Json, container: Json): Record<string, string> {
  const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: '10.0.0.1' };
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      // The kubelet expands $(NAME) of an earlier variable; $$ escapes; unknown names stay as is.
      env[e.name] = String(e.value).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name) =>
        name === undefined ? '$' : (env[name] ?? all),
      );
    } else if (e.valueFrom?.resourceFieldRef) {
      const ref = e.valueFrom.resourceFieldRef;
      const [section, resource] = String(ref.resource).split('.') as [string, string];
      const target = pod.spec.containers.find((c: Json) => c.name === ref.containerName);
      const amount = quantity(target.resources[section][resource]);
      // The kubelet rounds up: a 1500m limit with divisor 1 is 2.
      env[e.name] = String(Math.ceil(amount / quantity(ref.divisor ?? '1')));
    } else if (e.valueFrom?.fieldRef) {
      env[e.name] = `<${e.valueFrom.fieldRef.fieldPath}>`;
    } else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = `<secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}>`;
    }
  }
  return env;
}

/** Every environment variable name the service's source reads. */
export function envNamesTheServiceReads(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        const source = readFileSync(file, 'utf8');
        const patterns = [
          /\benv\.([A-Z][A-Z0-9_]*)\b/g,
          /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
          /\(env, '([A-Z][A-Z0-9_]*)'/g,
          /ConfigError\(\s*'([A-Z][A-Z0-9_]*)'/g,
        ];
        for (const pattern of patterns)
          for (const [, name = ''] of source.matchAll(pattern)) names.add(name);
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return names;
}

/** TypeScript diagnostics of `const oN: Type = <object>` for every object: unknown fields, wrong types. */
export function typeErrors(objects: K8sObject[]): string[] {
  const file = path.join(ROOT, 'test', 'deploy', '__rendered_manifests__.ts');
  const starts: number[] = [];
  const lines: string[] = [];
  objects.forEach((o, i) => {
    const entry = MODELS[modelKey(o)];
    if (entry === undefined) return;
    const typeName = `I${o.kind}`;
    starts.push(lines.length);
    lines.push(
      `export const o${i}: import('${entry.type}').${typeName} = ${JSON.stringify(o, null, 2)};`,
    );
  });
  const source = lines.join('\n').split('\n');
  const text = source.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) =>
    path.resolve(name) === file
      ? ts.createSourceFile(name, text, version)
      : getSourceFile.call(host, name, version, ...rest);
  host.fileExists = (name) => path.resolve(name) === file || fileExists.call(host, name);
  host.readFile = (name) => (path.resolve(name) === file ? text : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    // Lines of the generated file → the object they belong to.
    let index = 0;
    let offset = 0;
    for (const [i, o] of objects.entries()) {
      if (MODELS[modelKey(o)] === undefined) continue;
      const lineStart = source.findIndex((l) => l.startsWith(`export const o${i}:`));
      if (lineStart <= line) {
        index = i;
        offset = lineStart;
      }
    }
    const o = objects[index];
    return `${o ? objectId(o) : '?'} (line ${line - offset + 1}: ${source[line]?.trim()}): ${message}`;
  });
}
