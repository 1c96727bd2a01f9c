import type { Plugin } from '@sqlbatcher/core';

/** Rewrites one statement; return `null` to drop it on purpose. May be async. */
export type PreprocessFn = (sql: string, index: number) => string | null | Promise<string | null>;

/** Options of {@link SQLPreprocessor}. */
export interface SQLPreprocessorOptions {
  /** Plugin name in error messages. Default `'SQLPreprocessor'`. */
  readonly name?: string;
}

/**
 * Rewrites every input statement before it is lexed and merged (the seed's `SQLPreprocessor`). The
 * function receives the statement and its 0-based input index; an exception fails the run as a
 * `PluginError` naming this plugin.
 *
 * @example
 * ```ts
 * batcher.registerPlugin(new SQLPreprocessor((sql) => sql.replace(/^INSERT INTO staging\./, 'INSERT INTO public.')));
 * ```
 */
export class SQLPreprocessor implements Plugin {
  readonly name: string;
  private readonly fn: PreprocessFn;

  constructor(fn: PreprocessFn, options: SQLPreprocessorOptions = {}) {
    if (typeof fn !== 'function')
      throw new TypeError('SQLPreprocessor needs a function (sql, index) => string | null');
    this.fn = fn;
    this.name = options.name ?? 'SQLPreprocessor';
  }

  transformStatement(sql: string, index: number): string | null | Promise<string | null> {
    return this.fn(sql, index);
  }
}
