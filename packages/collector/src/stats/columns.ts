/**
 * Column count of an `INSERT INTO <table> (<columns>) …` request, read from its head only: whitespace,
 * `--` and nested block comments are skipped, identifiers may be quoted (`"a,b"`, `` `c` ``, `[d]`).
 * Returns undefined for anything else (no column list, not an INSERT), so a statistic built on it
 * never guesses.
 */
export function insertColumnCount(sql: string): number | undefined {
  let i = 0;
  const n = sql.length;
  const trivia = (): void => {
    for (;;) {
      while (i < n && /\s/.test(sql[i] as string)) i++;
      if (sql.startsWith('--', i)) {
        const nl = sql.indexOf('\n', i);
        i = nl < 0 ? n : nl + 1;
      } else if (sql.startsWith('/*', i)) {
        let depth = 0;
        while (i < n) {
          if (sql.startsWith('/*', i)) {
            depth++;
            i += 2;
          } else if (sql.startsWith('*/', i)) {
            depth--;
            i += 2;
            if (depth === 0) break;
          } else i++;
        }
      } else return;
    }
  };
  const word = (): string | undefined => {
    trivia();
    const start = i;
    while (i < n && /[\p{L}\p{N}_$]/u.test(sql[i] as string)) i++;
    return i > start ? sql.slice(start, i) : undefined;
  };
  const identifier = (): boolean => {
    trivia();
    const c = sql[i];
    if (c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      i++;
      for (;;) {
        const j = sql.indexOf(close, i);
        if (j < 0) return false;
        i = j + 1;
        if (close !== ']' && sql[i] === close) {
          i++;
          continue;
        }
        return true;
      }
    }
    const w = word();
    return w !== undefined && !/^\d/.test(w);
  };

  if (word()?.toUpperCase() !== 'INSERT') return undefined;
  const save = i;
  if (word()?.toUpperCase() !== 'INTO') i = save;
  // Table: identifier(.identifier)*
  do {
    if (!identifier()) return undefined;
    trivia();
  } while (sql[i] === '.' && ++i);
  if (sql[i] !== '(') return undefined;
  i++;
  let count = 0;
  for (;;) {
    if (!identifier()) return undefined;
    count++;
    trivia();
    if (sql[i] === ',') {
      i++;
      continue;
    }
    return sql[i] === ')' ? count : undefined;
  }
}
