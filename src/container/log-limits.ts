// A container's log limits: the CRI log rotates at logMaxSize bytes and keeps logMaxFiles files (the
// previous run's included), as kubelet's containerLogMaxSize / containerLogMaxFiles. The one copy of the
// defaults and the bounds (the size parser: src/util/units.ts); the shim (native/helper/crilog.c) gets plain numbers.
import { PodnsError } from '../errors.js';
import { parseSize } from '../util/units.js';

/** kubelet's containerLogMaxSize default, 10Mi */
export const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
/** kubelet's containerLogMaxFiles default */
export const DEFAULT_LOG_MAX_FILES = 5;
/** a file must hold a whole CRI line: 16 KiB of text (longer ones are split with P) and its time stamp */
export const MIN_LOG_MAX_SIZE = 32 * 1024;
/** 1 TiB: far above any sensible log; keeps sizes exact in a JS number and in the shim's long */
export const MAX_LOG_MAX_SIZE = 2 ** 40;
/** 2 at least, as kubelet: the previous run keeps its newest file and the current run needs one */
export const MIN_LOG_MAX_FILES = 2;
/** each rotation renames every kept file once: keep that cheap */
export const MAX_LOG_MAX_FILES = 100;

export interface LogLimits {
  logMaxSize: number;
  logMaxFiles: number;
}

const sizeHint = 'give bytes or a size such as 10Mi, 512Ki or 1M (Mi = 1048576, M = 1000000)';

/** --log-max-size's text → bytes, checked; one clear error otherwise. */
export function parseLogMaxSize(text: string): number {
  const n = parseSize(text);
  if (n === undefined) throw new PodnsError('EUSAGE', `invalid --log-max-size "${text}": ${sizeHint}`);
  return validateLogLimits({ logMaxSize: n }).logMaxSize;
}

/** --log-max-files's text → a number, checked. */
export function parseLogMaxFiles(text: string): number {
  if (!/^\d+$/.test(text)) throw new PodnsError('EUSAGE', `invalid --log-max-files "${text}": give a number of files, ${MIN_LOG_MAX_FILES} to ${MAX_LOG_MAX_FILES}`);
  return validateLogLimits({ logMaxFiles: Number(text) }).logMaxFiles;
}

/** The limits with the defaults filled in; throws EUSAGE for a value out of bounds. */
export function validateLogLimits(o: { logMaxSize?: number; logMaxFiles?: number }): LogLimits {
  const size = o.logMaxSize ?? DEFAULT_LOG_MAX_SIZE;
  const files = o.logMaxFiles ?? DEFAULT_LOG_MAX_FILES;
  if (!Number.isSafeInteger(size) || size < MIN_LOG_MAX_SIZE || size > MAX_LOG_MAX_SIZE) {
    throw new PodnsError('EUSAGE', `invalid log max size ${size} bytes: use ${MIN_LOG_MAX_SIZE} (32Ki, a file must hold one whole log line) to ${MAX_LOG_MAX_SIZE} (1Ti)`);
  }
  if (!Number.isInteger(files) || files < MIN_LOG_MAX_FILES || files > MAX_LOG_MAX_FILES) {
    throw new PodnsError('EUSAGE', `invalid log max files ${files}: use ${MIN_LOG_MAX_FILES} (the previous run's last file and the current one) to ${MAX_LOG_MAX_FILES}`);
  }
  return { logMaxSize: size, logMaxFiles: files };
}
