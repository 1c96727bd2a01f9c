/**
 * Credential redaction for logs. A scanner, not a single regex: it finds credential keywords as whole
 * words and then reads the value the way SQL and connection strings write it (quoted literal with
 * doubled-quote escapes, dollar-quoted string, or a bare `key=value` token), so a quote inside the
 * secret cannot end the redaction early. An unterminated value (e.g. cut by truncation) is redacted to
 * the end of the text.
 *
 * Covered: `PASSWORD 'x'` (CREATE ROLE / ALTER USER / Snowflake `PASSWORD = 'x'`, also `U&'x'` and
 * with comments before the value), `IDENTIFIED [WITH plugin] BY 'x'`, MySQL `SET PASSWORD [FOR u] = 'x'`
 * and `PASSWORD('x')`, `password=x` / `pwd=x` / `sslpassword=x` in connection strings (also
 * `password=''x''` inside an SQL literal), `scheme://user:pass@host` (up to the URL's last `@`), `token=…`, `api_key=…`,
 * `secret=…`, `AWS_SECRET_KEY='…'`, `AZURE_SAS_TOKEN='…'`, Snowflake's `SECRET_STRING = '…'` and
 * `OAUTH_CLIENT_SECRET` / `OAUTH_REFRESH_TOKEN`, `Bearer …`, `"password": "…"`. Not covered:
 * values in an INSERT's VALUES list, which are data, not syntax.
 */

/** Text that replaces a secret. */
export const REDACTED = '***';

const KEYWORDS = new Set([
  'password',
  'sslpassword',
  'passwd',
  'pwd',
  'pass',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'auth_token',
  'session_token',
  'api_key',
  'apikey',
  'api_token',
  'private_key',
  'private_key_passphrase',
  'passphrase',
  'secret_key',
  'secret_access_key',
  'aws_secret_key',
  'aws_secret_access_key',
  'aws_session_token',
  'aws_token',
  'azure_sas_token',
  'sas_token',
  'master_key',
  'encryption_key',
  // Snowflake's secret objects and OAuth integrations
  'secret_string',
  'oauth_client_secret',
  'oauth_refresh_token',
  'oauth_access_token',
  // signed URLs: Azure SAS `sig=`, AWS and GCS `X-Amz-Signature=` / `X-Goog-Signature=` (found in review)
  'sig',
  'signature',
]);
/** Keywords whose value may follow after whitespace only, without `=` or `:`. */
const BARE_AFTER_SPACE = new Set(['bearer']);

const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

/** Where {@link secretSpans} may find a credential: a keyword as a whole word, `://` or a PEM header. */
const STARTS = new RegExp(
  String.raw`:\/\/|-----BEGIN|\b(?:${[...KEYWORDS, ...BARE_AFTER_SPACE, 'identified'].join('|')})\b`,
  'gi',
);

/**
 * Text holding none of these holds no credential {@link secretSpans} would find (every keyword contains
 * one of them): one quick pass instead of the scanner's, which is slow on megabytes of SQL.
 */
const CANDIDATE = /pass|pwd|secret|token|key|sig|bearer|identified|:\/\/|-----BEGIN/i;

/** Replace credentials in `text` with `***`. */
export function redactSecrets(text: string): string {
  if (!CANDIDATE.test(text)) return text;
  let out = '';
  let copied = 0;
  for (const [start, end] of secretSpans(text)) {
    out += text.slice(copied, start) + REDACTED;
    copied = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The credentials {@link redactSecrets} masks in `text`, as written there. */
export function secretValues(text: string): string[] {
  return secretSpans(text).map(([start, end]) => text.slice(start, end));
}

/**
 * A message about `sql` (an engine's error, say) with its credentials masked: those
 * {@link redactSecrets} finds in the message itself, and every credential of `sql` quoted in it
 * (`syntax error at or near ""hunter2""` names a password the statement held; found in review).
 */
export function redactMessage(message: string, sql?: string): string {
  let out = redactSecrets(message);
  if (sql === undefined) return out;
  const values = secretValues(sql)
    .map((v) => v.trim())
    .filter((v) => v.length >= 3)
    .sort((a, b) => b.length - a.length);
  for (const v of values) out = out.split(v).join(REDACTED);
  return out;
}

/** `[start, end)` of each credential in `text`, in order (see {@link redactSecrets}). */
function secretSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  if (!CANDIDATE.test(text)) return spans;
  let i = 0;
  const n = text.length;
  const replace = (start: number, end: number): void => {
    spans.push([start, end]);
  };

  while (i < n) {
    // (straight to the next place the scan below could act at: a keyword, `://` or a PEM header)
    STARTS.lastIndex = i;
    const next = STARTS.exec(text);
    if (next === null) break;
    i = next.index;
    // A PEM private key anywhere (a key pasted into OPTIONS or a string): its body to the END line.
    if (text.startsWith('-----BEGIN', i)) {
      const headEnd = text.indexOf('-----', i + 10);
      if (headEnd > 0 && headEnd - i < 80 && /PRIVATE KEY/i.test(text.slice(i, headEnd))) {
        const bodyAt = headEnd + 5;
        const close = text.indexOf('-----END', bodyAt);
        replace(bodyAt, close < 0 ? n : close);
        i = close < 0 ? n : close + 8;
        continue;
      }
    }
    // scheme://user:password@host
    if (text.startsWith('://', i)) {
      let j = i + 3;
      while (j < n && !/[:@/?#\s'"]/.test(text[j] as string)) j++;
      if (text[j] === ':') {
        // The password runs to the last `@` of the URL: people write `@`, `/` and even spaces in it
        // unencoded, and redacting too much of a log line is the safe mistake.
        let at = -1;
        for (let k = j + 1; k < n; k++) {
          const ch = text[k] as string;
          if (ch === "'" && text[k + 1] === "'")
            k++; // a quote doubled inside an SQL literal
          else if (ch === "'" || ch === '"' || ch === '\n' || ch === '\r') break;
          else if (ch === '@') at = k;
        }
        if (at > j + 1) {
          replace(j + 1, at);
          i = at;
          continue;
        }
      }
      i = j;
      continue;
    }
    if (!/[A-Za-z_]/.test(text[i] as string) || isWord(text[i - 1])) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && isWord(text[j])) j++;
    const word = text.slice(i, j).toLowerCase();
    let valueAt = -1;
    if (KEYWORDS.has(word) || BARE_AFTER_SPACE.has(word)) {
      valueAt = j;
      // "password": "x" — skip the quote closing the key.
      const q = text[i - 1];
      let closed = false;
      if ((q === '"' || q === "'") && text[valueAt] === q) {
        valueAt++;
        closed = true;
      } else if (text[j] === '"' || text[j] === "'") {
        // The key ends a string and its value follows: set_config('app.secret', 'x'),
        // '{"db.password": "x"}' (found in review: the quote was taken for the value's).
        const k = afterSpace(text, j + 1);
        if (text[k] === ',' || text[k] === ':' || text[k] === '=') {
          valueAt = j + 1;
          closed = true;
        }
      }
      // (a key given as a string argument, its value the next one: json_build_object('password', 'x'))
      if (closed) {
        const k = afterSpace(text, valueAt);
        if (text[k] === ',') valueAt = k + 1;
      }
    } else if (word === 'identified') {
      let k = j;
      while (k < n && /\s/.test(text[k] as string)) k++;
      // MySQL: IDENTIFIED WITH plugin BY 'x' (or AS 'hash')
      if (text.slice(k, k + 4).toLowerCase() === 'with' && !isWord(text[k + 4])) {
        k += 4;
        while (k < n && /\s/.test(text[k] as string)) k++;
        while (k < n && !/\s/.test(text[k] as string)) k++;
        while (k < n && /\s/.test(text[k] as string)) k++;
        if (text.slice(k, k + 2).toLowerCase() === 'as' && !isWord(text[k + 2])) valueAt = k + 2;
      }
      if (text.slice(k, k + 2).toLowerCase() === 'by' && !isWord(text[k + 2])) {
        valueAt = k + 2;
        // MySQL's `IDENTIFIED BY PASSWORD '<hash>'` and Oracle's `IDENTIFIED BY VALUES '<hash>'`: the value
        // is the string after the word (found in review: the word was masked and the hash kept)
        const w = afterSpace(text, valueAt);
        const m = /^(?:password|values)\b/i.exec(text.slice(w, w + 9));
        if (m) valueAt = w + m[0].length;
      }
    }
    if (valueAt < 0) {
      i = j;
      continue;
    }
    const end = redactValue(text, valueAt, word);
    if (end === undefined) {
      i = j;
      continue;
    }
    replace(end.start, end.end);
    i = end.end;
  }
  return spans;
}

/** Locate the value after a keyword; undefined when what follows is not a value (e.g. a column list). */
function redactValue(text: string, from: number, word: string): { start: number; end: number } | undefined {
  const n = text.length;
  let k = from;
  // (whitespace and comments: `PASSWORD /* note */ 'x'`)
  const skipSpace = () => {
    k = afterSpace(text, k);
  };
  skipSpace();
  // MySQL: SET PASSWORD FOR 'u'@'h' = 'x'
  if (word === 'password' && /^for\b/i.test(text.slice(k, k + 4))) {
    const eq = text.indexOf('=', k);
    if (eq < 0) return undefined;
    k = eq;
  }
  let separated = false;
  // SET app.password TO 'x'
  if (/^to\b/i.test(text.slice(k, k + 3))) {
    k += 2;
    skipSpace();
    separated = true;
  }
  if (!separated && (text[k] === '=' || text[k] === ':')) {
    separated = true;
    k++;
    if (text[k] === '>')
      k++; // =>
    else if (text[k - 1] === ':' && text[k] === '=') k++; // :=  (a named argument)
    skipSpace();
  }
  // MySQL: PASSWORD('x')
  if (text[k] === '(') {
    k++;
    skipSpace();
  }
  const c = text[k];
  if (c === undefined) return undefined;
  // A conninfo value quoted inside an SQL literal: password=''x y''
  if (separated && c === "'" && text[k + 1] === "'" && text[k + 2] !== "'") {
    const close = text.indexOf("''", k + 2);
    return { start: k + 2, end: close < 0 ? n : close };
  }
  // Quoted literal, optionally E'…' / N'…' / U&'…'.
  let quoteAt = k;
  if ((c === 'E' || c === 'e' || c === 'N' || c === 'n') && text[k + 1] === "'") quoteAt = k + 1;
  if ((c === 'U' || c === 'u') && text[k + 1] === '&' && text[k + 2] === "'") quoteAt = k + 2;
  const q = text[quoteAt];
  if (q === "'" || q === '"') {
    let p = quoteAt + 1;
    for (;;) {
      if (p >= n) return { start: quoteAt + 1, end: n };
      const ch = text[p];
      // Backslash escapes only exist in E'…' and MySQL strings; treating them everywhere can only
      // redact too much, never too little.
      if (ch === '\\') {
        p += 2;
        continue;
      }
      if (ch === q) {
        if (text[p + 1] === q) {
          p += 2;
          continue;
        }
        // `'hun'` newline `'ter2'` is one string in SQL: the continuation is part of the secret
        if (q === "'") {
          const next = afterSpace(text, p + 1);
          if (text[next] === "'" && /[\n\r]/.test(text.slice(p + 1, next))) {
            p = next + 1;
            continue;
          }
        }
        return p === quoteAt + 1 ? undefined : { start: quoteAt + 1, end: p };
      }
      p++;
    }
  }
  if (c === '$') {
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(k, k + 64));
    if (m) {
      const tag = m[0];
      const close = text.indexOf(tag, k + tag.length);
      return { start: k + tag.length, end: close < 0 ? n : close };
    }
  }
  // A bare value needs `=`/`:` (`password=x`), except after `Bearer` and `IDENTIFIED BY` (Oracle writes
  // the password unquoted there; found in review).
  if (!separated && word !== 'bearer' && word !== 'identified') return undefined;
  if (c === '(' || c === ',' || c === ';' || c === ')') return undefined;
  // a function call (`PASSWORD = PASSWORD('x')`): the scan goes on into it
  if (/^[A-Za-z_]\w*\s*\(/.test(text.slice(k, k + 64))) return undefined;
  let p = k;
  while (p < n && !/[\s'";&,)]/.test(text[p] as string)) p++;
  return p > k ? { start: k, end: p } : undefined;
}

/**
 * Shorten `sql` to `max` characters, saying how much was cut. Redacts first, looking a little past
 * the cut so a secret that straddles it is recognised.
 */
export function redactAndTruncate(sql: string, max: number): string {
  if (sql.length <= max) return redactSecrets(sql);
  const head = redactSecrets(sql.slice(0, max + 1024));
  return `${head.slice(0, max)}… [${sql.length - max} more characters]`;
}

/** The first index at or after `k` past whitespace (any) and comments (block comments nest, as in SQL). */
function afterSpace(text: string, k: number): number {
  const n = text.length;
  for (;;) {
    while (k < n && /\s/.test(text[k] as string)) k++;
    if (text.startsWith('/*', k)) {
      let depth = 1;
      k += 2;
      while (k < n && depth > 0) {
        if (text.startsWith('/*', k)) {
          depth++;
          k += 2;
        } else if (text.startsWith('*/', k)) {
          depth--;
          k += 2;
        } else k++;
      }
    } else if (text.startsWith('--', k)) {
      const e = text.indexOf('\n', k + 2);
      k = e < 0 ? n : e + 1;
    } else return k;
  }
}
