// Which layout an archive has, and its images: an OCI layout (index.json; Docker >= 25 writes one with a
// manifest.json beside it, whose RepoTags are added by config digest), else a legacy docker save (manifest.json).
import type { ContentStore } from '../content/store.js';
import type { Platform } from '../oci.js';
import type { ArchiveContents } from './contents.js';
import { entryLayerDigests, planDockerArchive, readDockerManifest } from './docker-archive.js';
import { hostile } from './names.js';
import { planOciLayout } from './oci-layout.js';
import { checkPlan, mergePlans, type ImagePlan } from './plan.js';

export function planArchive(c: ArchiveContents, content: ContentStore, o: { platform?: Platform } = {}): ImagePlan[] {
  let plans: ImagePlan[];
  if (c.has('index.json')) {
    plans = planOciLayout(c, content, o);
    if (c.has('manifest.json')) {
      // Docker >= 25: its RepoTags go to the image with that config and those layers
      for (const e of readDockerManifest(c, content)) {
        const layers = entryLayerDigests(c, e).join(' ');
        for (const p of plans) {
          if (p.configDigest === e.configDigest && p.layers.map((l) => l.digest).join(' ') === layers) p.names.push(...e.names);
        }
      }
    }
  } else if (c.has('manifest.json')) {
    plans = planDockerArchive(c, content);
  } else if (c.has('repositories')) {
    throw hostile(`${c.source} has no manifest.json: a docker save archive from before Docker 1.10, which podns does not read`);
  } else {
    throw hostile(`${c.source} is not an image archive: it has neither index.json (an OCI layout) nor manifest.json (docker save)`);
  }
  plans = mergePlans(plans);
  if (plans.length === 0) throw hostile(`${c.source} holds no image`);
  for (const p of plans) checkPlan(p, content);
  return plans;
}
