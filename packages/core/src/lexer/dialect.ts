/** SQL dialects the lexer understands. */
export type Dialect = 'postgres' | 'trino' | 'bigquery' | 'snowflake' | 'mysql' | 'generic';

/** Lexical rules of one dialect. */
export interface DialectRules {
  readonly name: Dialect;
  /** `$tag$ … $tag$` (postgres) or only `$$ … $$` (snowflake). */
  readonly dollarQuotes: 'tagged' | 'plain' | 'none';
  /** `E'…'` strings with backslash escapes. */
  readonly eStrings: boolean;
  /** Backslash escapes inside ordinary '…' strings (mysql, bigquery, snowflake). */
  readonly backslashEscapes: boolean;
  /** `"…"` is a string literal rather than an identifier (mysql, bigquery). */
  readonly doubleQuoteIsString: boolean;
  /** `` `…` `` quotes identifiers. */
  readonly backtickIdentifiers: boolean;
  /** `# …` line comments. */
  readonly hashComments: boolean;
  /** `// …` line comments (snowflake). */
  readonly slashSlashComments: boolean;
  /** Block comments nest (postgres). */
  readonly nestedComments: boolean;
  /** `'''…'''`, `"""…"""`, `r'…'`, `b'…'` (bigquery). */
  readonly tripleQuotes: boolean;
  /** Block comments opened by `/*!` or `/*+` are executable, not comments (mysql). */
  readonly executableComments: boolean;
  /** How unquoted table names fold: 'none' means compare exactly (case-sensitive engines). */
  readonly foldTables: 'lower' | 'upper' | 'none';
  /** How unquoted column names fold. */
  readonly foldColumns: 'lower' | 'upper' | 'none';
  /** Quoted identifiers compare case-insensitively (bigquery/mysql columns). */
  readonly quotedColumnsCaseInsensitive: boolean;
  /** psql meta-commands (`\restrict …`) may appear at the start of a statement. */
  readonly psqlMetaCommands: boolean;
  /**
   * `--` starts a comment only when followed by whitespace or a control character (MySQL: `5--1` is
   * `5 - -1`).
   */
  readonly dashCommentNeedsSpace?: boolean;
  /**
   * Procedural scripts: `BEGIN … END`, `IF … END IF` … blocks hold `;`-separated statements that the
   * splitter keeps together (bigquery, snowflake).
   */
  readonly scriptBlocks?: boolean;
}

const base: DialectRules = {
  name: 'generic',
  dollarQuotes: 'none',
  eStrings: false,
  backslashEscapes: false,
  doubleQuoteIsString: false,
  backtickIdentifiers: true,
  hashComments: false,
  slashSlashComments: false,
  nestedComments: false,
  tripleQuotes: false,
  executableComments: false,
  foldTables: 'lower',
  foldColumns: 'lower',
  quotedColumnsCaseInsensitive: false,
  psqlMetaCommands: false,
};

/** Lexical rules for each dialect. */
export const DIALECTS: Readonly<Record<Dialect, DialectRules>> = {
  // Unknown engine: compare names exactly (ClickHouse and MySQL-on-Linux tables are case-sensitive;
  // Snowflake/Oracle fold to upper case): `Users` and `users` may be different tables.
  generic: { ...base, foldTables: 'none', foldColumns: 'none' },
  postgres: {
    ...base,
    name: 'postgres',
    dollarQuotes: 'tagged',
    eStrings: true,
    backtickIdentifiers: false,
    nestedComments: true,
    psqlMetaCommands: true,
  },
  trino: { ...base, name: 'trino', backtickIdentifiers: false },
  snowflake: {
    ...base,
    name: 'snowflake',
    dollarQuotes: 'plain',
    backslashEscapes: true,
    slashSlashComments: true,
    scriptBlocks: true,
    foldTables: 'upper',
    foldColumns: 'upper',
  },
  bigquery: {
    ...base,
    name: 'bigquery',
    backslashEscapes: true,
    doubleQuoteIsString: true,
    hashComments: true,
    tripleQuotes: true,
    scriptBlocks: true,
    // BigQuery table names are case-sensitive; column names are not.
    foldTables: 'none',
    foldColumns: 'lower',
    quotedColumnsCaseInsensitive: true,
  },
  mysql: {
    ...base,
    name: 'mysql',
    backslashEscapes: true,
    doubleQuoteIsString: true,
    hashComments: true,
    executableComments: true,
    dashCommentNeedsSpace: true,
    // Table-name case sensitivity depends on the server's file system: compare exactly.
    foldTables: 'none',
    foldColumns: 'lower',
    quotedColumnsCaseInsensitive: true,
  },
};

/** Resolve a dialect name (default `postgres`). */
export function dialectRules(dialect: Dialect | DialectRules | undefined): DialectRules {
  if (dialect === undefined) return DIALECTS.postgres;
  if (typeof dialect === 'object') return dialect;
  const rules = DIALECTS[dialect];
  if (!rules) throw new TypeError(`unknown SQL dialect "${String(dialect)}"`);
  return rules;
}
