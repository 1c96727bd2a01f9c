/**
 * Credential redaction for logs. A scanner, not a single regex: it finds credential keywords as whole
 * words and then reads the value the way SQL and connection strings write it (quoted literal with
 * doubled-quote escapes, dollar-quoted string, or a bare `key=value` token), so a quote inside the
 * secret cannot end the redaction early. An unterminated value (e.g. cut by truncation) is redacted to
 * the end of the text.
 *
 * Covered: `PASSWORD 'x'` (CREATE ROLE / ALTER USER / Snowflake `PASSWORD = 'x'`), `IDENTIFIED BY 'x'`,
 * `password=x` / `pwd=x` in connection strings, `scheme://user:pass@host`, `token=…`, `api_key=…`,
 * `secret=…`, `AWS_SECRET_KEY='…'`, `AZURE_SAS_TOKEN='…'`, `Bearer …`, `"password": "…"`. Not covered:
 * values in an INSERT's VALUES list, which are data, not syntax.
 */

/** Text that replaces a secret. */
export const REDACTED = '***';

const KEYWORDS = new Set([
  'password',
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
]);
/** Keywords whose value may follow after whitespace only, without `=` or `:`. */
const BARE_AFTER_SPACE = new Set(['bearer']);

const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

/** Replace credentials in `text` with `***`. */
export function redactSecrets(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  const n = text.length;
  const replace = (start: number, end: number): void => {
    out += text.slice(copied, start) + REDACTED;
    copied = end;
  };

  while (i < n) {
    // scheme://user:password@host
    if (text.startsWith('://', i)) {
      let j = i + 3;
      let colon = -1;
      // Userinfo may hold any sub-delimiter (`;`, `'`, `$`, …); `/ ? # @` and whitespace must be
      // percent-encoded, so they end it.
      while (j < n && !/[@/?#\s]/.test(text[j] as string)) {
        if (text[j] === ':' && colon < 0) colon = j;
        j++;
      }
      if (text[j] === '@' && colon >= 0 && j > colon + 1) {
        replace(colon + 1, j);
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
      if ((q === '"' || q === "'") && text[valueAt] === q) valueAt++;
    } else if (word === 'identified') {
      let k = j;
      while (k < n && /\s/.test(text[k] as string)) k++;
      if (text.slice(k, k + 2).toLowerCase() === 'by' && !isWord(text[k + 2])) {
        valueAt = k + 2;
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
  return out + text.slice(copied);
}

/** Locate the value after a keyword; undefined when what follows is not a value (e.g. a column list). */
function redactValue(text: string, from: number, word: string): { start: number; end: number } | undefined {
  const n = text.length;
  let k = from;
  const skipSpace = () => {
    while (k < n && /[ \t\r\n]/.test(text[k] as string)) k++;
  };
  skipSpace();
  let separated = false;
  if (text[k] === '=' || text[k] === ':') {
    separated = true;
    k++;
    if (text[k] === '>') k++; // =>
    skipSpace();
  }
  const c = text[k];
  if (c === undefined) return undefined;
  // Quoted literal, optionally E'…' / N'…'.
  let quoteAt = k;
  if ((c === 'E' || c === 'e' || c === 'N' || c === 'n') && text[k + 1] === "'") quoteAt = k + 1;
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
  // A bare value needs `=`/`:` (`password=x`), except after `Bearer`.
  if (!separated && word !== 'bearer') return undefined;
  if (c === '(' || c === ',' || c === ';' || c === ')') return undefined;
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
