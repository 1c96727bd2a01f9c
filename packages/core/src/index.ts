export * from './errors.js';
export * from './lexer/dialect.js';
export type * from './execute/adapter.js';
export type * from './execute/plugin.js';
