// A child process for the content store's kill -9 test: ingests FILE as DIGEST into STORE, slowly, and tells
// its parent (IPC) once some bytes are on disk, so that the parent can kill it mid-download.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContentStore } from '../../src/image/content/store.js';

const [dir, digest, file] = process.argv.slice(2) as [string, string, string];
const data = readFileSync(file);
const store = new ContentStore(dir);
let told = false;
await store.ingest(digest, data.length, async (offset) => Readable.from((async function* () {
  for (let pos = offset; pos < data.length; pos += 50_000) {
    yield data.subarray(pos, Math.min(data.length, pos + 50_000));
    await sleep(20);
  }
})()), (bytes) => {
  if (!told && bytes >= 300_000) {
    told = true;
    process.send?.('written');
  }
});
