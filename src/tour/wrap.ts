// Paragraph wrapping by terminal cells: Latin text breaks at spaces, CJK text between any two characters
// (never before closing punctuation), so both languages fill the width evenly.
import { visibleWidth } from '../cli/output.js';

const CJK = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u;
// characters a line must not start with (closing punctuation, full-width or not)
// (as \u escapes: the CLI bundle is read as ASCII, see bin/podns.cjs)
const NO_START = /^[,\u3002\u3001;:!?)\u300d\u300f\u3011\u3009\u300b,.;:!?)\]]/u;

/** Break text into tokens: CJK characters one by one, other runs up to a space, spaces kept as tokens. */
function tokens(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (ch === ' ') {
      if (cur) out.push(cur);
      out.push(' ');
      cur = '';
    } else if (CJK.test(ch)) {
      if (cur) out.push(cur);
      out.push(ch);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  // glue closing punctuation to the token before it, so it never starts a line
  const glued: string[] = [];
  for (const t of out) {
    if (glued.length > 0 && NO_START.test(t) && glued[glued.length - 1] !== ' ') glued[glued.length - 1] += t;
    else glued.push(t);
  }
  return glued;
}

export function wrap(text: string, width: number, indent = ''): string {
  const max = Math.max(20, width - visibleWidth(indent));
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    let w = 0;
    for (const t of tokens(para)) {
      const tw = visibleWidth(t);
      if (t === ' ') {
        if (w > 0 && w + 1 <= max) {
          line += ' ';
          w += 1;
        }
        continue;
      }
      if (w + tw > max && w > 0) {
        lines.push(line.trimEnd());
        line = '';
        w = 0;
      }
      line += t;
      w += tw;
    }
    lines.push(line.trimEnd());
  }
  return lines.map((l) => (l ? indent + l : l)).join('\n');
}
