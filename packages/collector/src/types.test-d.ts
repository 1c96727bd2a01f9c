import type { Collector, QueryRecord } from '@sqlbatcher/core';
import { expectTypeOf } from 'vitest';
import {
  type CollectedQuery,
  combineCollectors,
  createOpenTelemetryCollector,
  QueryCollector,
} from './index.js';

// The constructor form named in the architecture document.
const collector = new QueryCollector({ delimiter: ';', dryRun: false, referenceColumnCount: 10 });
expectTypeOf(collector).toMatchTypeOf<Collector>();
expectTypeOf<CollectedQuery>().toMatchTypeOf<QueryRecord>();
expectTypeOf(collector.getQueries()).toEqualTypeOf<CollectedQuery[]>();
expectTypeOf(collector.getStats().count).toBeNumber();
expectTypeOf(combineCollectors(collector)).toEqualTypeOf<Collector>();
expectTypeOf(createOpenTelemetryCollector).returns.resolves.toEqualTypeOf<Collector>();
