import type { Plugin } from '@sqlbatcher/core';
import { expectTypeOf } from 'vitest';
import {
  DeadLetterWriter,
  MetricsCollector,
  ProgressReporter,
  QueryLogger,
  SQLPreprocessor,
} from './index.js';

expectTypeOf(new SQLPreprocessor((sql) => sql)).toMatchTypeOf<Plugin>();
expectTypeOf(new SQLPreprocessor(async (sql, index) => (index > 0 ? sql : null))).toMatchTypeOf<Plugin>();
expectTypeOf(new MetricsCollector()).toMatchTypeOf<Plugin>();
expectTypeOf(new QueryLogger()).toMatchTypeOf<Plugin>();
expectTypeOf(new ProgressReporter({ stream: { write: () => true, isTTY: false } })).toMatchTypeOf<Plugin>();
expectTypeOf(new DeadLetterWriter({ path: 'rejected.sql' })).toMatchTypeOf<Plugin>();
// @ts-expect-error a preprocessor returns a string or null
new SQLPreprocessor(() => 42);
