// A second process for the layer store tests: ensure(chainId) of a blob file, read slowly (DELAY ms per
// 4 KiB piece) so that two processes overlap; every open() of the blob is logged to LOG. Prints the result.
// argv: STORE CHAIN_ID DIFF_ID BLOB LOG DELAY_MS [stall: stop sending after the first piece]
import { appendFileSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LayerStore } from '../../src/image/layers/store.js';

const [store, chainId, diffId, blob, log, delay, mode] = process.argv.slice(2) as [string, string, string, string, string, string, string | undefined];

async function* slow(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let off = 0; off < bytes.length; off += 4096) {
    yield bytes.subarray(off, off + 4096);
    if (mode === 'stall') {
      appendFileSync(log, `stalled ${process.pid}\n`);
      await new Promise(() => {}); // until killed
    }
    await sleep(Number(delay));
  }
}

const r = await new LayerStore(store).ensure({
  chainId,
  diffId,
  open: () => {
    appendFileSync(log, `open ${process.pid}\n`);
    return Readable.from(slow(readFileSync(blob)));
  },
});
process.stdout.write(JSON.stringify(r) + '\n');
