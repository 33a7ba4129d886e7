/**
 * Renders the project's kustomizations for the manifest tests, two ways:
 *
 * - {@link renderWithBinary}: `kustomize build DIR` or `kubectl kustomize DIR`, when one of them is
 *   on PATH (the real thing).
 * - {@link render}: a small renderer for the subset of kustomize that `k8s/` uses — `resources`
 *   (files and directories), `components`, `labels` (pairs only: metadata labels), `images`,
 *   `configMapGenerator` with `files` and `disableNameSuffixHash: true`, `patches` (strategic merge
 *   from a file: see {@link applyPatch}) and `configurations` (name references and selector
 *   fields, which need nothing here: this renderer renames nothing and labels only metadata) —
 *   so the tests run on
 *   machines without either binary (no kustomize package exists for npm). Anything outside that
 *   subset is an error rather than silently ignored, and where a binary exists the tests check
 *   that both give the same objects.
 *
 * Order of work, as in kustomize: a kustomization's resources (a directory is built on its own
 * first), then its components (each adds its resources and generated objects to the same list and
 * applies its transformers to everything so far), then its own generators, then its transformers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { findProgram } from '../support/programs.js';

/** A Kubernetes object as plain JSON. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
};

interface ImageRule {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'labels',
  'images',
  'configMapGenerator',
  'patches',
  'configurations',
]);

function fail(dir: string, message: string): never {
  throw new Error(`${path.join(dir, 'kustomization.yaml')}: ${message}`);
}

/** Reads the kustomization file of `dir` (any of the three names kustomize accepts). */
export function readKustomization(dir: string): Record<string, unknown> {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const file = path.join(dir, name);
    if (existsSync(file)) return parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  }
  throw new Error(`no kustomization file in ${dir}`);
}

function asList(dir: string, value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(dir, `${field} must be a list`);
  return value;
}

function readObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `registry:5000/team/app:1.2@sha256:…` → name `registry:5000/team/app`, tag, digest. */
export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  const slash = rest.lastIndexOf('/');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return {
    name: rest,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

function applyImages(objects: K8sObject[], rules: ImageRule[]): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (['containers', 'initContainers', 'ephemeralContainers'].includes(key)) {
        for (const container of Array.isArray(value) ? value : []) {
          const c = container as { image?: unknown };
          if (typeof c.image !== 'string') continue;
          const current = splitImage(c.image);
          const rule = rules.find((r) => r.name === current.name);
          if (rule === undefined) continue;
          const name = rule.newName ?? current.name;
          if (rule.digest !== undefined) c.image = `${name}@${rule.digest}`;
          else if (rule.newTag !== undefined) c.image = `${name}:${rule.newTag}`;
          else
            c.image = `${name}${current.tag ? `:${current.tag}` : ''}${current.digest ? `@${current.digest}` : ''}`;
        }
      }
      visit(value);
    }
  };
  visit(objects);
}

function generateConfigMap(dir: string, spec: Record<string, unknown>): K8sObject {
  const allowed = new Set(['name', 'files', 'options']);
  for (const key of Object.keys(spec)) {
    if (!allowed.has(key)) fail(dir, `configMapGenerator.${key} is not supported by this renderer`);
  }
  const options = (spec.options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!['disableNameSuffixHash', 'labels', 'annotations'].includes(key)) {
      fail(dir, `configMapGenerator options.${key} is not supported by this renderer`);
    }
  }
  if (options.disableNameSuffixHash !== true) {
    fail(dir, 'configMapGenerator needs disableNameSuffixHash: true here (no hash suffixes)');
  }
  const data: Record<string, string> = {};
  for (const entry of asList(dir, spec.files, 'configMapGenerator.files')) {
    const text = String(entry);
    const eq = text.indexOf('=');
    const key = eq >= 0 ? text.slice(0, eq) : path.basename(text);
    const file = path.resolve(dir, eq >= 0 ? text.slice(eq + 1) : text);
    if (!file.startsWith(dir + path.sep)) fail(dir, `${text} is outside the kustomization`);
    data[key] = readFileSync(file, 'utf8');
  }
  const metadata: K8sObject['metadata'] = { name: String(spec.name) };
  if (options.labels) metadata.labels = { ...(options.labels as Record<string, string>) };
  if (options.annotations) metadata.annotations = { ...(options.annotations as object) };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

/** Lists merged item by item in a strategic merge patch, by this key; other lists are replaced. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
};

const isMap = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function mergeList(field: string, target: unknown[], patch: unknown[], where: string): unknown[] {
  const key = MERGE_KEYS[field];
  if (key === undefined) {
    if (patch.some((item) => typeof item === 'object' && item !== null)) {
      throw new Error(`${where}: merging the list "${field}" is not supported by this renderer`);
    }
    return patch;
  }
  // As kustomize does: the patch's items in its order (merged with the same-keyed item of the
  // target, or dropped with `$patch: delete`), then the target's items the patch did not name.
  const named = new Set(patch.map((item) => (item as Record<string, unknown>)[key]));
  const out: unknown[] = [];
  for (const item of patch as Record<string, unknown>[]) {
    const { $patch: directive, ...rest } = item;
    const existing = target.find((t) => isMap(t) && t[key] === item[key]);
    if (directive === 'delete') continue;
    if (directive !== undefined) throw new Error(`${where}: $patch: ${String(directive)}`);
    out.push(
      existing === undefined ? rest : mergeMap(existing as Record<string, unknown>, rest, where),
    );
  }
  return [...out, ...target.filter((t) => !(isMap(t) && named.has(t[key])))];
}

function mergeMap(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  where: string,
): Record<string, unknown> {
  const out = { ...target };
  for (const [field, value] of Object.entries(patch)) {
    const current = out[field];
    if (field === '$patch') throw new Error(`${where}: $patch: ${String(value)} inside an object`);
    if (value === null) delete out[field];
    else if (isMap(value) && isMap(current)) out[field] = mergeMap(current, value, where);
    else if (Array.isArray(value) && Array.isArray(current))
      out[field] = mergeList(field, current, value, where);
    else out[field] = value;
  }
  return out;
}

/**
 * A strategic merge patch from a file: the object with the patch's apiVersion, kind and name is
 * deleted (`$patch: delete` at the top) or merged (maps field by field, `null` removes a field,
 * the lists of {@link MERGE_KEYS} item by item with `$patch: delete` removing an item, other lists
 * of scalars replaced). No match is an error, as in kustomize.
 */
function applyPatch(dir: string, objects: K8sObject[], file: string): void {
  for (const patch of readObjects(file)) {
    const where = `${path.relative(dir, file)} (${objectId(patch)})`;
    const index = objects.findIndex(
      (o) =>
        o.apiVersion === patch.apiVersion &&
        o.kind === patch.kind &&
        o.metadata.name === patch.metadata.name,
    );
    if (index < 0) fail(dir, `patch ${where} matches no object`);
    const { $patch: directive, ...rest } = patch as K8sObject & { $patch?: unknown };
    if (directive === 'delete') objects.splice(index, 1);
    else if (directive !== undefined) fail(dir, `patch ${where}: $patch: ${String(directive)}`);
    else objects[index] = mergeMap(objects[index] as K8sObject, rest, where) as K8sObject;
  }
}

function checkConfiguration(dir: string, file: string): void {
  const config = parseYaml(readFileSync(path.resolve(dir, file), 'utf8')) as Record<
    string,
    unknown
  >;
  const others = Object.keys(config).filter(
    (key) => !['nameReference', 'commonLabels'].includes(key),
  );
  if (others.length > 0)
    fail(dir, `${file}: ${others.join(', ')} is not supported by this renderer`);
}

function accumulate(dir: string, objects: K8sObject[], expectedKind: string): void {
  const k = readKustomization(dir);
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(key)) fail(dir, `field "${key}" is not supported by this renderer`);
  }
  if (k.kind !== expectedKind) fail(dir, `kind is ${String(k.kind)}, expected ${expectedKind}`);

  for (const entry of asList(dir, k.resources, 'resources')) {
    const target = path.resolve(dir, String(entry));
    if (statSync(target).isDirectory()) objects.push(...render(target));
    else objects.push(...readObjects(target));
  }
  for (const entry of asList(dir, k.components, 'components')) {
    accumulate(path.resolve(dir, String(entry)), objects, 'Component');
  }
  for (const spec of asList(dir, k.configMapGenerator, 'configMapGenerator')) {
    objects.push(generateConfigMap(dir, spec as Record<string, unknown>));
  }
  // kustomize's order of transformers: patches, then labels, then images.
  for (const entry of asList(dir, k.patches, 'patches')) {
    const { path: file, ...others } = entry as { path?: string };
    if (file === undefined || Object.keys(others).length > 0) {
      fail(dir, 'patches: only entries with a `path` alone are supported here');
    }
    applyPatch(dir, objects, path.resolve(dir, file));
  }
  for (const rule of asList(dir, k.labels, 'labels')) {
    const { pairs, ...others } = rule as { pairs?: Record<string, string> };
    if (Object.keys(others).length > 0) {
      fail(dir, `labels: only "pairs" is supported here, not ${Object.keys(others).join(', ')}`);
    }
    for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...pairs };
  }
  for (const file of asList(dir, k.configurations, 'configurations')) {
    checkConfiguration(dir, String(file));
  }
  const images = asList(dir, k.images, 'images') as ImageRule[];
  if (images.length > 0) applyImages(objects, images);
}

/** Renders the kustomization in `dir` with this module's renderer. */
export function render(dir: string): K8sObject[] {
  const objects: K8sObject[] = [];
  accumulate(path.resolve(dir), objects, 'Kustomization');
  return objects;
}

function onPath(command: string): boolean {
  try {
    execFileSync(command, ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    try {
      execFileSync(command, ['version'], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  }
}

let binary: { command: string; args: string[] } | null | undefined;

/** `kustomize` or `kubectl` (with its built-in kustomize), whichever is installed, else undefined. */
export function kustomizeBinary(): { command: string; args: string[] } | undefined {
  if (binary === undefined) {
    if (onPath('kustomize')) binary = { command: 'kustomize', args: ['build'] };
    else {
      const kubectl = findProgram('kubectl'); // KUBECTL=/nowhere tries the skip
      binary =
        kubectl !== undefined && onPath(kubectl) ? { command: kubectl, args: ['kustomize'] } : null;
    }
  }
  return binary ?? undefined;
}

/** Renders `dir` with the kustomize binary; undefined when none is installed. */
export function renderWithBinary(dir: string): K8sObject[] | undefined {
  const found = kustomizeBinary();
  if (found === undefined) return undefined;
  const out = execFileSync(found.command, [...found.args, dir], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** `apps/v1 Deployment tornode`: how the tests name an object. */
export function objectId(o: K8sObject): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.name}`;
}
