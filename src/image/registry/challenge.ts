// WWW-Authenticate (RFC 7235): one or more challenges, each a scheme and auth-params:
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
//   Basic realm="Registry Realm"
// A hostile header is bounded (length, parameter count) and a malformed one gives no challenge, not a crash.
export interface Challenge {
  /** lowercase: "bearer", "basic" */
  scheme: string;
  params: Record<string, string>;
}

const HEADER_MAX = 8192;
const PARAMS_MAX = 32;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const headers = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const h of headers) {
    if (h.length > HEADER_MAX) continue;
    out.push(...parseOne(h));
  }
  return out;
}

function parseOne(h: string): Challenge[] {
  const out: Challenge[] = [];
  let s = h;
  const skipWs = (): void => {
    s = s.replace(/^[ \t]+/, '');
  };
  skipWs();
  while (s.length > 0) {
    const scheme = TOKEN.exec(s)?.[0];
    if (scheme === undefined) return out;
    s = s.slice(scheme.length);
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: Object.create(null) as Record<string, string> };
    out.push(ch);
    skipWs();
    let count = 0;
    // auth-params: name=value or name="quoted", separated by commas; a token followed by a space and
    // another token (not '=') starts the next challenge.
    for (;;) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*/.exec(s);
      if (m === null) break;
      s = s.slice(m[0].length);
      let value: string;
      if (s.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        if (i >= s.length) return out; // unterminated: keep what was complete
        s = s.slice(i + 1);
      } else {
        value = TOKEN.exec(s)?.[0] ?? '';
        s = s.slice(value.length);
      }
      if (++count > PARAMS_MAX) return out;
      ch.params[m[1]!.toLowerCase()] = value;
      skipWs();
      if (!s.startsWith(',')) break;
      s = s.slice(1);
      skipWs();
    }
    ch.params = { ...ch.params };
    skipWs();
    while (s.startsWith(',')) {
      s = s.slice(1);
      skipWs();
    }
  }
  return out;
}
