/**
 * Statement kind and target table from the first words of a statement: a small scanner that skips
 * whitespace, `--` and nested block comments and reads quoted identifiers, so it is never fooled by a
 * keyword inside a comment. It reads only the statement's head, never its values.
 */

/** What {@link describeStatement} found. */
export interface StatementInfo {
  /** Leading keyword in upper case (`INSERT`, `UPDATE`, `CREATE`, `WITH`, …), or `'UNKNOWN'`. */
  readonly kind: string;
  /**
   * Target table for INSERT/UPSERT/REPLACE/MERGE/UPDATE/DELETE/TRUNCATE/COPY and CREATE/ALTER/DROP TABLE:
   * unquoted parts folded to lower case, quoted parts kept with their quotes (`public."Users"`).
   */
  readonly table: string | undefined;
}

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'quoted'; text: string }
  | { kind: 'punct'; text: string };

class HeadScanner {
  private pos = 0;
  constructor(private readonly s: string) {}

  next(): Token | undefined {
    const s = this.s;
    for (;;) {
      while (this.pos < s.length && /\s/.test(s[this.pos] as string)) this.pos++;
      if (s.startsWith('--', this.pos)) {
        const nl = s.indexOf('\n', this.pos);
        this.pos = nl < 0 ? s.length : nl + 1;
        continue;
      }
      if (s.startsWith('/*', this.pos)) {
        let depth = 0;
        while (this.pos < s.length) {
          if (s.startsWith('/*', this.pos)) {
            depth++;
            this.pos += 2;
          } else if (s.startsWith('*/', this.pos)) {
            depth--;
            this.pos += 2;
            if (depth === 0) break;
          } else this.pos++;
        }
        continue;
      }
      break;
    }
    if (this.pos >= s.length) return undefined;
    const c = s[this.pos] as string;
    if (c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      let end = this.pos + 1;
      for (;;) {
        const i = s.indexOf(close, end);
        if (i < 0) {
          end = s.length;
          break;
        }
        if (close !== ']' && s[i + 1] === close) {
          end = i + 2;
          continue;
        }
        end = i + 1;
        break;
      }
      const text = s.slice(this.pos, end);
      this.pos = end;
      return { kind: 'quoted', text };
    }
    if (/[\p{L}_]/u.test(c)) {
      let end = this.pos + 1;
      while (end < s.length && /[\p{L}\p{N}_$]/u.test(s[end] as string)) end++;
      const text = s.slice(this.pos, end);
      this.pos = end;
      return { kind: 'word', text };
    }
    this.pos++;
    return { kind: 'punct', text: c };
  }

  /** Next token without consuming it. */
  peek(): Token | undefined {
    const save = this.pos;
    const t = this.next();
    this.pos = save;
    return t;
  }

  /** Consume the next token when it is one of the given keywords. */
  accept(...words: string[]): string | undefined {
    const t = this.peek();
    if (t?.kind === 'word' && words.includes(t.text.toUpperCase())) {
      this.next();
      return t.text.toUpperCase();
    }
    return undefined;
  }

  /** A possibly qualified name: `a.b."C"`. */
  name(): string | undefined {
    const parts: string[] = [];
    for (;;) {
      const t = this.next();
      if (!t || t.kind === 'punct') return parts.length > 0 ? parts.join('.') : undefined;
      parts.push(t.kind === 'word' ? t.text.toLowerCase() : t.text);
      const dot = this.peek();
      if (dot?.kind !== 'punct' || dot.text !== '.') return parts.join('.');
      this.next();
    }
  }
}

const CREATE_MODIFIERS = [
  'OR',
  'REPLACE',
  'TEMP',
  'TEMPORARY',
  'UNLOGGED',
  'GLOBAL',
  'LOCAL',
  'TRANSIENT',
  'EXTERNAL',
  'VOLATILE',
];

/** Kind and table of a statement (see {@link StatementInfo}). */
export function describeStatement(sql: string): StatementInfo {
  const sc = new HeadScanner(sql);
  const first = sc.next();
  if (first?.kind !== 'word') return { kind: 'UNKNOWN', table: undefined };
  const kind = first.text.toUpperCase();
  let table: string | undefined;
  switch (kind) {
    case 'INSERT':
    case 'UPSERT':
    case 'REPLACE':
    case 'MERGE':
      sc.accept('INTO', 'OVERWRITE');
      sc.accept('TABLE');
      table = sc.name();
      break;
    case 'UPDATE':
      sc.accept('ONLY');
      table = sc.name();
      break;
    case 'DELETE':
      sc.accept('FROM');
      sc.accept('ONLY');
      table = sc.name();
      break;
    case 'TRUNCATE':
      sc.accept('TABLE');
      sc.accept('ONLY');
      table = sc.name();
      break;
    case 'COPY':
      table = sc.peek()?.kind === 'punct' ? undefined : sc.name();
      break;
    case 'CREATE':
    case 'ALTER':
    case 'DROP': {
      while (sc.accept(...CREATE_MODIFIERS)) {
        // skip modifiers
      }
      if (sc.accept('TABLE')) {
        if (sc.accept('IF')) {
          sc.accept('NOT');
          sc.accept('EXISTS');
        }
        sc.accept('ONLY');
        table = sc.name();
      }
      break;
    }
  }
  return { kind, table };
}

/** Normalise a table name as written in an INSERT (e.g. `InsertParts.table`) the same way. */
export function normaliseTableName(name: string): string {
  return new HeadScanner(name).name() ?? name;
}
