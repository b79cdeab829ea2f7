// Reading back the tables the CLI printed, so the tour's claims are checked against exactly the output it
// showed. Columns are found from the header line: table() separates columns by at least two spaces and
// left-aligns every cell under its header (a header may contain single spaces: "RX PACKETS").

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

export type TableRow = Record<string, string>;

/**
 * Rows of the first table in `text` whose header line contains all of `mustHave`. A row ends the table when
 * it is empty; rows for which `keep` is false (notes printed after the table) are skipped.
 */
export function parseTable(text: string, mustHave: string[], keep: (r: TableRow) => boolean = () => true): TableRow[] {
  const lines = stripAnsi(text).split('\n');
  const h = lines.findIndex((l) => mustHave.every((m) => new RegExp(`(^|\\s)${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`).test(l)));
  if (h < 0) return [];
  const header = lines[h]!;
  const cols: Array<{ name: string; start: number }> = [];
  const re = /\S+(?: \S+)*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) !== null) cols.push({ name: m[0], start: m.index });
  const rows: TableRow[] = [];
  for (const line of lines.slice(h + 1)) {
    if (line.trim() === '') break;
    const r: TableRow = {};
    cols.forEach((c, i) => {
      const end = i + 1 < cols.length ? cols[i + 1]!.start : undefined;
      r[c.name] = line.slice(c.start, end).trim();
    });
    if (keep(r)) rows.push(r);
  }
  return rows;
}
