/**
 * Quote `name` as a PostgreSQL identifier: wrapped in double quotes, embedded quotes doubled.
 * Used for every identifier the adapter writes itself (savepoint names, COPY targets).
 */
export function quoteIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new TypeError('identifier contains a NUL character');
  return `"${name.replace(/"/g, '""')}"`;
}

/** Fold an identifier as written in SQL the way PostgreSQL does: unquoted → lower case, quoted → as is. */
export function normalizeIdentifier(written: string): string {
  const s = written.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) return s.slice(1, -1).replace(/""/g, '"');
  // PostgreSQL folds only ASCII letters of unquoted identifiers.
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * The parts of a possibly qualified name as written (`s.t`, `"My Schema"."T"`), or undefined when it is
 * not a plain dotted list of identifiers.
 */
export function qualifiedNameParts(written: string): string[] | undefined {
  const parts: string[] = [];
  const re =
    /[ \t\n\r\f]*(?:"((?:[^"]|"")*)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*))[ \t\n\r\f]*(\.|$)/y;
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    const m = re.exec(written);
    if (!m) return undefined;
    parts.push(
      m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.replace(/[A-Z]/g, (c) => c.toLowerCase()),
    );
    at = re.lastIndex;
    if (m[3] === '') return at === written.length ? parts : undefined;
  }
}
