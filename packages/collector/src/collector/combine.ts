import type { Collector, QueryRecord } from '@sqlbatcher/core';

/**
 * One collector that forwards every record (and `countInput`) to several, in order; e.g. a
 * `QueryCollector` for the report and an OpenTelemetry collector for tracing.
 */
export function combineCollectors(...collectors: readonly Collector[]): Collector {
  return {
    record(record: QueryRecord): void {
      for (const c of collectors) c.record(record);
    },
    countInput(statements: number): void {
      for (const c of collectors) c.countInput?.(statements);
    },
  };
}
