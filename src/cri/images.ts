// Images for the CRI, from podns's image store (src/image). Today the store holds what `podns image
// import` (and, as issue 11 lands, pull/load) put there; a CRI image name is looked up as given, then as
// the short name Docker would show (docker.io/library/busybox:1 → busybox:1). PullImage answers
// UNIMPLEMENTED until the store can pull: that handler plugs in here.
import { status } from '@grpc/grpc-js';
import { statSync } from 'node:fs';
import { findImage, listImages, removeImage, type ImageSummary } from '../image/index.js';
import { NotFoundError } from '../errors.js';
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
    repo_digests: [],
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

export function removeCriImage(ctx: CriContext, req: Msg): Msg {
  const hit = lookupImage(ctx, req.image?.image ?? '');
  if (hit === undefined) return {};
  try {
    removeImage({ root: ctx.root, ...(ctx.store !== undefined ? { store: ctx.store } : {}), name: hit.ref });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  return {};
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

export function pullImage(): never {
  throw criError(status.UNIMPLEMENTED, 'PullImage: this podns cannot pull yet; import the image (podns image import NAME FILE) and use its name');
}
