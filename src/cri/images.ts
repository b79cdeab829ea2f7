// Images for the CRI, from podns's image store (src/image): what `podns image import/pull/load` and
// PullImage (src/image/pull.ts, with the request's AuthConfig as explicit credentials) put there. A CRI
// image name is looked up as given, then as the short name Docker would show (docker.io/library/busybox:1
// → busybox:1); the image's id (its manifest digest) is its image_ref.
import { status } from '@grpc/grpc-js';
import { statSync } from 'node:fs';
import { findImage, inspectImage, listImages, type ImageSummary } from '../image/index.js';
import { removeImageAndContent } from '../image/gc.js';
import { pullImage } from '../image/pull.js';
import type { ExplicitCredentials } from '../image/registry/credentials.js';
import { NotFoundError, oneLine, PodnsError } from '../errors.js';
import { resolveStore, storePaths } from '../state/store-root.js';
import type { CriContext } from './context.js';
import { criError, nowNs } from './convert.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

/** The names to try for a CRI image reference, most specific first. */
export function candidates(name: string): string[] {
  const out = [name];
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (name.startsWith(prefix)) out.push(name.slice(prefix.length));
  }
  return out;
}

/** The store's name for this CRI image (its ref and id), or undefined. */
export function lookupImage(ctx: CriContext, name: string): { ref: string; id: string } | undefined {
  const store = resolveStore(ctx.store);
  for (const n of candidates(name)) {
    try {
      const hit = findImage(store, n);
      if (hit !== undefined) return hit;
    } catch {
      // not a reference the store's grammar takes: try the next form
    }
  }
  return undefined;
}

function imageMsg(rows: ImageSummary[]): Msg {
  const r = rows[0]!;
  return {
    id: r.id,
    repo_tags: rows.map((x) => x.ref).filter((x) => !x.startsWith('<none>')),
    // a pulled image's source is "REPOSITORY@DIGEST" (the index digest of a multi-platform one)
    repo_digests: [...new Set(rows.map((x) => x.source).filter((x): x is string => x !== undefined && x.includes('@sha256:')))],
    size: String(r.size),
    uid: null,
    username: '',
    spec: { image: r.id, annotations: {} },
    pinned: false,
  };
}

export function listCriImages(ctx: CriContext, req: Msg): Msg {
  const byId = new Map<string, ImageSummary[]>();
  for (const row of listImages({ ...(ctx.store !== undefined ? { store: ctx.store } : {}) })) {
    byId.set(row.id, [...(byId.get(row.id) ?? []), row]);
  }
  const want = req.filter?.image?.image as string | undefined;
  const hit = want ? lookupImage(ctx, want) : undefined;
  const images = [...byId.values()].filter((rows) => !want || rows[0]!.id === hit?.id).map(imageMsg);
  return { images };
}

export function imageStatus(ctx: CriContext, req: Msg): Msg {
  const name = req.image?.image ?? '';
  const hit = lookupImage(ctx, name);
  if (hit === undefined) return { image: null, info: {} };
  const rows = listImages({ ...(ctx.store !== undefined ? { store: ctx.store } : {}) }).filter((r) => r.id === hit.id);
  return { image: rows.length > 0 ? imageMsg(rows) : null, info: {} };
}

/**
 * RemoveImage: the image with every name it has (containerd removes all its references), then its blobs and
 * unpacked layers that no other image and no container refers to — `podns image rm`'s path
 * (removeImageAndContent: under the store's gc lock held exclusively, so a pull or load in flight, which holds
 * it shared, finishes first and is never judged half-made). An image a container still uses loses its names
 * and stays until that container is gone (then `podns image prune` takes it): containerd likewise keeps a
 * container's snapshot. Idempotent: an image not there is success.
 */
export async function removeCriImage(ctx: CriContext, req: Msg): Promise<Msg> {
  const hit = lookupImage(ctx, req.image?.image ?? '');
  if (hit === undefined) return {};
  try {
    await removeImageAndContent({ root: ctx.root, ...(ctx.store !== undefined ? { store: ctx.store } : {}), name: hit.id, force: true });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  return {};
}

/**
 * Images among IDS that no name points at any more (RemoveImage while a container used them) and that no
 * container uses now: removed with their content, as containerd's GC takes an image's content once its last
 * container is gone. Called after RemoveContainer and RemovePodSandbox with the images they used; a named
 * image, or one another container still uses, stays.
 */
export async function dropUnnamedImages(ctx: CriContext, ids: Iterable<string>): Promise<void> {
  const store = resolveStore(ctx.store);
  for (const id of new Set(ids)) {
    let names: string[];
    try {
      names = inspectImage({ store, name: id }).names;
    } catch {
      continue; // gone already, or not an id the store knows
    }
    if (names.length > 0) continue;
    try {
      await removeImageAndContent({ root: ctx.root, store, name: id });
    } catch (err) {
      if (!(err instanceof NotFoundError) && !(err instanceof PodnsError && err.code === 'EIMAGEINUSE')) throw err;
    }
  }
}

export function imageFsInfo(ctx: CriContext): Msg {
  const store = resolveStore(ctx.store);
  const dir = storePaths.images(store);
  let used = 0;
  for (const r of listImages({ store })) used += r.size;
  try {
    statSync(dir);
  } catch {
    // no image yet
  }
  const usage = { timestamp: nowNs(), fs_id: { mountpoint: dir }, used_bytes: { value: String(used) }, inodes_used: null };
  return { image_filesystems: [usage], container_filesystems: [] };
}

/** AuthConfig → explicit credentials (a registry token, an identity token, username/password or the
 * base64 "user:password" auth); undefined when it gives none. */
export function credentialsOf(auth: Msg): ExplicitCredentials | undefined {
  if (auth === null || auth === undefined) return undefined;
  if (auth.registry_token) return { registryToken: String(auth.registry_token) };
  if (auth.identity_token) return { identityToken: String(auth.identity_token) };
  if (auth.username) return { username: String(auth.username), password: String(auth.password ?? '') };
  if (auth.auth) {
    const text = Buffer.from(String(auth.auth), 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0) throw criError(status.INVALID_ARGUMENT, 'PullImage: auth.auth must be base64 of "username:password"');
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

export async function pullCriImage(ctx: CriContext, req: Msg): Promise<Msg> {
  const ref = String(req.image?.image ?? '');
  if (ref === '') throw criError(status.INVALID_ARGUMENT, 'PullImage: image.image is empty; give an image reference');
  const credentials = credentialsOf(req.auth);
  try {
    const r = await pullImage({ ref, ...(ctx.store !== undefined ? { store: ctx.store } : {}), ...(credentials !== undefined ? { credentials } : {}) });
    return { image_ref: r.id };
  } catch (err) {
    if (err instanceof PodnsError && err.code === 'EUSAGE') throw criError(status.INVALID_ARGUMENT, `PullImage ${ref}: ${oneLine(err)}`);
    throw criError(err instanceof NotFoundError ? status.NOT_FOUND : status.UNKNOWN, `PullImage ${ref}: ${oneLine(err)}`);
  }
}
