// How sizes, ages and ids read in tables and progress lines (Docker's units).

/** "sha256:0123456789ab": an id as a table shows it. */
export function shortId(id: string): string {
  return id.slice(0, 'sha256:'.length + 12);
}

/** Sizes as Docker prints them: decimal units, three significant digits ("1.98MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** "5 minutes ago", as Docker's units.HumanDuration. */
export function humanAgo(since: string | Date, now = Date.now()): string {
  const s = Math.floor((now - new Date(since).getTime()) / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  let d: string;
  if (s < 1) d = 'Less than a second';
  else if (s === 1) d = '1 second';
  else if (s < 60) d = `${s} seconds`;
  else if (m === 1) d = 'About a minute';
  else if (m < 60) d = `${m} minutes`;
  else if (h === 1) d = 'About an hour';
  else if (h < 48) d = `${h} hours`;
  else if (h < 24 * 7 * 2) d = `${Math.floor(h / 24)} days`;
  else if (h < 24 * 30 * 2) d = `${Math.floor(h / 24 / 7)} weeks`;
  else if (h < 24 * 365 * 2) d = `${Math.floor(h / 24 / 30)} months`;
  else d = `${Math.floor(h / 24 / 365)} years`;
  return `${d} ago`;
}
