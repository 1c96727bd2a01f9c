import { type Dialect, type DialectRules, dialectRules } from './dialect.js';
import { INCOMPLETE, mayStartToken, NOT_SPECIAL, skipToken, trimSpace } from './scanner.js';

/**
 * Split a VALUES row `( a, 'b,c', f(1, 2) )` into its top-level value texts, trimmed, comments kept.
 * Returns undefined when the text is not a single parenthesised row.
 */
export function splitRowValues(row: string, dialect?: Dialect | DialectRules): string[] | undefined {
  const r = dialectRules(dialect);
  const n = row.length;
  if (row.charCodeAt(0) !== 40 || row.charCodeAt(n - 1) !== 41) return undefined;
  const out: string[] = [];
  let depth = 0;
  let from = 1;
  let i = 1;
  while (i < n - 1) {
    const c = row.charCodeAt(i);
    if (mayStartToken(c)) {
      const e = skipToken(row, i, r, true);
      if (e === INCOMPLETE) return undefined;
      if (e !== NOT_SPECIAL) {
        i = e;
        continue;
      }
    }
    if (c === 40 || c === 91) depth++;
    else if (c === 41 || c === 93) depth--;
    else if (c === 44 && depth === 0) {
      out.push(trimSpace(row.slice(from, i)));
      from = i + 1;
    }
    i++;
  }
  if (depth !== 0) return undefined;
  out.push(trimSpace(row.slice(from, n - 1)));
  return out;
}
