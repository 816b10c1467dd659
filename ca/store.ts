import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { createRoot, crossSign, type Signer } from './certificates.js';
import { generateKeys, importPrivateKey, privateKeyPem, type CryptoKeyPair, type KeyType } from './keys.js';
import { trustDomainId } from './spiffe.js';
import { newTokenSecret } from './tokens.js';

/**
 * The CA's directory: everything it is, on disk, so `tandem ca serve` and the other `tandem ca`
 * commands share it (a `rotate` while `serve` runs is picked up by the server).
 *
 *   ca.json               trust domain, key type, leaf TTL, the roots in order, the bundle's index
 *   root-N.pem / .key     each root and its key (keys mode 0600)
 *   root-N.cross.pem      root N signed by root N-1, while both are trusted
 *   token.key             the join-token secret (0600)
 *   revoked-tokens.json   revoked join-token ids, with their expiry
 *   bundle.pem            every trusted root: the file sidecars and operators trust the CA by
 *
 * Files are replaced by rename, so a reader never sees half of one; `ca.json` is written last.
 */

/** Consul's LeafCertTTL is 72 h; Tandem's default is the 24 h of DESIGN.md §6. */
export const DEFAULT_LEAF_TTL_MS = 24 * 3600_000;

const STATE_FILE = 'ca.json';

interface RootRecord {
  readonly name: string;
  /** Set while the previous root is still trusted: this root, signed by it. */
  readonly crossSigned: boolean;
}

interface StateFile {
  readonly version: 1;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly leafTtlMs: number;
  /** Trusted roots, oldest first; the last one signs. */
  readonly roots: readonly RootRecord[];
  /** Moves whenever the bundle does, so sidecars can wait for a change. */
  readonly bundleIndex: number;
  /** When the last root was made: `retire` warns while leaves of older roots may still be valid. */
  readonly rotatedAt: number;
}

export interface CaState {
  readonly dir: string;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly leafTtlMs: number;
  /** The active root, which signs every new certificate. */
  readonly signer: Signer;
  /** Certificates sent after a new leaf: the active root cross-signed by its predecessor, while that is trusted. */
  readonly intermediates: readonly x509.X509Certificate[];
  /** Every trusted root, oldest first. */
  readonly roots: readonly x509.X509Certificate[];
  readonly bundlePem: string;
  readonly bundleIndex: number;
  readonly rotatedAt: number;
  readonly tokenSecret: Buffer;
}

export class CaStoreError extends Error {
  override readonly name = 'CaStoreError';
}

/** Names each temporary file apart: two writers of one file in one process must not share theirs. */
let temporaries = 0;

async function writeAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const temporary = `${path}.${process.pid}.${++temporaries}.tmp`;
  await writeFile(temporary, data, { mode });
  await rename(temporary, path);
}

async function writeRoot(dir: string, name: string, keys: CryptoKeyPair, certificate: x509.X509Certificate): Promise<void> {
  await writeAtomic(join(dir, `${name}.key`), await privateKeyPem(keys.privateKey), 0o600);
  await writeAtomic(join(dir, `${name}.pem`), certificate.toString('pem') + '\n');
}

async function writeState(dir: string, state: StateFile): Promise<void> {
  await writeAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

async function readState(dir: string): Promise<StateFile> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), 'utf8');
  } catch (error) {
    throw new CaStoreError(`${dir} holds no CA (${STATE_FILE}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); create one with \`tandem ca init\``);
  }
  const state = JSON.parse(text) as StateFile;
  if (state.version !== 1 || state.roots.length === 0) throw new CaStoreError(`${join(dir, STATE_FILE)}: not a Tandem CA state file`);
  return state;
}

export interface InitOptions {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly leafTtlMs?: number;
}

/** Creates a CA in `dir`: a root key and self-signed root, and the join-token secret. Never overwrites one. */
export async function initCa(dir: string, options: InitOptions, now = Date.now()): Promise<CaState> {
  const id = trustDomainId(options.trustDomain);
  if (existsSync(join(dir, STATE_FILE)) || existsSync(join(dir, 'root-1.key'))) throw new CaStoreError(`${dir} already holds a CA; refusing to overwrite it`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = await generateKeys(options.keyType);
  const root = await createRoot(keys, options.keyType, id, now);
  await writeAtomic(join(dir, 'token.key'), newTokenSecret(), 0o600);
  await writeRoot(dir, 'root-1', keys, root);
  await writeState(dir, {
    version: 1,
    trustDomain: id.trustDomain,
    keyType: options.keyType,
    leafTtlMs: options.leafTtlMs ?? DEFAULT_LEAF_TTL_MS,
    roots: [{ name: 'root-1', crossSigned: false }],
    bundleIndex: 1,
    rotatedAt: now,
  });
  return openCa(dir);
}

/** Loads the CA in `dir` and writes its bundle out (`bundle.pem`) if that changed. */
export async function openCa(dir: string): Promise<CaState> {
  const state = await loadCa(dir);
  const bundleFile = join(dir, 'bundle.pem');
  const published = await readFile(bundleFile, 'utf8').catch(() => '');
  if (published !== state.bundlePem) await writeAtomic(bundleFile, state.bundlePem);
  return state;
}

async function loadCa(dir: string): Promise<CaState> {
  const state = await readState(dir);
  const roots = await Promise.all(state.roots.map(async (root) => new x509.X509Certificate(await readFile(join(dir, `${root.name}.pem`), 'utf8'))));
  const active = state.roots.at(-1) as RootRecord;
  const privateKey = await importPrivateKey(await readFile(join(dir, `${active.name}.key`), 'utf8'), state.keyType);
  const intermediates = active.crossSigned ? [new x509.X509Certificate(await readFile(join(dir, `${active.name}.cross.pem`), 'utf8'))] : [];
  return {
    dir,
    trustDomain: state.trustDomain,
    keyType: state.keyType,
    leafTtlMs: state.leafTtlMs,
    signer: { keyType: state.keyType, privateKey, certificate: roots.at(-1) as x509.X509Certificate },
    intermediates,
    roots,
    bundlePem: roots.map((root) => root.toString('pem') + '\n').join(''),
    bundleIndex: state.bundleIndex,
    rotatedAt: state.rotatedAt,
    tokenSecret: await readFile(join(dir, 'token.key')),
  };
}

/**
 * Makes a new root, cross-signed by the active one, and publishes a bundle with both: new leaves are
 * signed by the new root (and carry the cross-signed certificate), old leaves stay valid.
 */
export async function rotateCa(dir: string, now = Date.now()): Promise<CaState> {
  const state = await readState(dir);
  const current = await openCa(dir);
  const name = `root-${Number((state.roots.at(-1) as RootRecord).name.slice('root-'.length)) + 1}`;
  const id = trustDomainId(state.trustDomain);
  const keys = await generateKeys(state.keyType);
  const root = await createRoot(keys, state.keyType, id, now);
  await writeAtomic(join(dir, `${name}.cross.pem`), (await crossSign(root, current.signer, id, now)).toString('pem') + '\n');
  await writeRoot(dir, name, keys, root);
  await writeState(dir, { ...state, roots: [...state.roots, { name, crossSigned: true }], bundleIndex: state.bundleIndex + 1, rotatedAt: now });
  return openCa(dir);
}

/**
 * Drops every root but the active one from the bundle (and their keys from the directory): leaves they
 * signed are refused from then on. Returns the names retired.
 */
export async function retireCa(dir: string): Promise<{ state: CaState; retired: string[] }> {
  const state = await readState(dir);
  const active = state.roots.at(-1) as RootRecord;
  const retired = state.roots.slice(0, -1).map((root) => root.name);
  if (retired.length === 0) return { state: await openCa(dir), retired };
  await writeState(dir, { ...state, roots: [{ name: active.name, crossSigned: false }], bundleIndex: state.bundleIndex + 1 });
  for (const name of retired) {
    await rm(join(dir, `${name}.key`), { force: true });
    await rm(join(dir, `${name}.pem`), { force: true });
  }
  await rm(join(dir, `${active.name}.cross.pem`), { force: true });
  return { state: await openCa(dir), retired };
}

interface RevokedToken {
  readonly id: string;
  /** When the token expires anyway, so the entry can go; null when revoked by id alone (kept for good). */
  readonly expiresAt: number | null;
}

/** Revoked join-token ids that have not expired yet (an expired token is refused anyway). */
export async function revokedTokens(dir: string, now = Date.now()): Promise<Set<string>> {
  const list = await readRevoked(dir);
  return new Set(list.filter((token) => token.expiresAt === null || token.expiresAt > now).map((token) => token.id));
}

async function readRevoked(dir: string): Promise<RevokedToken[]> {
  try {
    return JSON.parse(await readFile(join(dir, 'revoked-tokens.json'), 'utf8')) as RevokedToken[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Revokes a join token by id; `expiresAt` lets the entry be pruned once the token would have expired anyway. */
export async function revokeToken(dir: string, id: string, expiresAt: number | null, now = Date.now()): Promise<void> {
  await readState(dir);
  const list = (await readRevoked(dir)).filter((token) => (token.expiresAt === null || token.expiresAt > now) && token.id !== id);
  await writeAtomic(join(dir, 'revoked-tokens.json'), JSON.stringify([...list, { id, expiresAt }], null, 2) + '\n');
}
