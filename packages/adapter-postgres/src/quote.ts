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
