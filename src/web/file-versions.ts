import type { Stats } from 'node:fs';
import { resolve, sep } from 'node:path';
import { nodeCrypto, nodeFs } from './builtins.js';

/** Length of the `?v=` version in static URLs: 72 bits of the content hash. */
const VERSION_LENGTH = 12;
/** Most files whose hash is remembered; past it the oldest entry goes. */
const MAX_ENTRIES = 10_000;

interface Entry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly hash: Promise<string>;
  value: string | undefined;
}

const hashes = new Map<string, Entry>();

function sameFile(entry: Entry, stats: Stats): boolean {
  return entry.size === stats.size && entry.mtimeMs === stats.mtimeMs && entry.ino === stats.ino;
}

function remember(
  path: string,
  stats: Stats,
  entry: Omit<Entry, 'size' | 'mtimeMs' | 'ino'>,
): Entry {
  hashes.delete(path); // re-inserting keeps the most recently computed entries last
  if (hashes.size >= MAX_ENTRIES) {
    const oldest = hashes.keys().next().value;
    if (oldest !== undefined) hashes.delete(oldest);
  }
  const full: Entry = { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, ...entry };
  hashes.set(path, full);
  return full;
}

/**
 * The SHA-256 (base64url) of a file's content, read without blocking and remembered for as long as
 * the file keeps its size, modification time and inode. Concurrent first requests share one read.
 */
export function contentHash(path: string, stats: Stats): Promise<string> {
  const cached = hashes.get(path);
  if (cached !== undefined && sameFile(cached, stats)) return cached.hash;
  const computing = new Promise<string>((resolveHash, reject) => {
    const hasher = nodeCrypto().createHash('sha256');
    const stream = nodeFs.createReadStream(path);
    stream.on('data', (chunk) => hasher.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolveHash(hasher.digest('base64url')));
  });
  const entry = remember(path, stats, { hash: computing, value: undefined });
  computing.then(
    (value) => {
      entry.value = value;
    },
    () => {
      if (hashes.get(path) === entry) hashes.delete(path);
    },
  );
  return computing;
}

/** The `?v=` version of a file whose content hash is `contentHash`. */
export function versionOf(contentHash: string): string {
  return contentHash.slice(0, VERSION_LENGTH);
}

/**
 * The content hash of a file, synchronously (for building URLs while rendering), or `undefined`
 * when the file cannot be read. Shares the cache of {@link contentHash}.
 */
export function contentHashSync(path: string): string | undefined {
  let stats: Stats;
  try {
    stats = nodeFs.statSync(path);
    if (!stats.isFile()) return undefined;
    const cached = hashes.get(path);
    if (cached?.value !== undefined && sameFile(cached, stats)) return cached.value;
    const value = nodeCrypto().hash('sha256', nodeFs.readFileSync(path), 'base64url');
    remember(path, stats, { hash: Promise.resolve(value), value });
    return value;
  } catch {
    return undefined;
  }
}

/**
 * The URL of a file under `root`, as `prefix` + the path (each segment percent-encoded) +
 * `?v=` + a short content hash; without `?v=` when the file cannot be read.
 */
export function makeStaticUrl(root: string, prefix: string, path: string): string {
  const relative = path.replace(/^\/+/, '');
  const encoded = relative.split('/').map(encodeURIComponent).join('/');
  const base = resolve(root);
  const full = resolve(base, relative);
  if (full !== base && !full.startsWith(base + sep)) return prefix + encoded;
  const digest = contentHashSync(full);
  return digest === undefined ? prefix + encoded : `${prefix}${encoded}?v=${versionOf(digest)}`;
}
