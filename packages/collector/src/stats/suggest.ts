import type { QueryStats } from '../collector/query-collector.js';

/** Options of {@link suggestMaxBytes}. */
export interface SuggestMaxBytesOptions {
  /** The batcher's current `maxBytes`. */
  readonly currentMaxBytes: number;
  /** Wanted average request time. Default 100 ms (the seed's 0.1 s). */
  readonly targetQueryTimeMs?: number;
  /** Factor applied when requests are too slow. Default 0.8. */
  readonly shrink?: number;
  /** Factor applied when requests are fast (under half the target). Default 1.2. */
  readonly grow?: number;
  /** Lower bound of the result. Default 1,024. */
  readonly min?: number;
  /** Upper bound of the result (e.g. the adapter's `capabilities.maxQuerySize`). Default unlimited. */
  readonly max?: number;
  /**
   * The batcher runs with `autoAdjustForColumns`: its requests were `maxBytes × factor` in size, so the
   * observed size is divided by the stats' `columnAdjustmentFactor` before it becomes a new `maxBytes`.
   * Default false.
   */
  readonly autoAdjustForColumns?: boolean;
}

/**
 * The seed's `optimize_batch_size` in bytes: a new `maxBytes` for `batcher.setBatchSize()` from the
 * observed average request time. Too slow: shrink from the average request size actually sent. Fast
 * (under half the target): grow from the current limit. Otherwise keep the current limit.
 *
 * @example
 * ```ts
 * batcher.setBatchSize(suggestMaxBytes(collector.getStats(), { currentMaxBytes: 1_000_000 }));
 * ```
 */
export function suggestMaxBytes(stats: QueryStats, options: SuggestMaxBytesOptions): number {
  const target = options.targetQueryTimeMs ?? 100;
  const min = options.min ?? 1024;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  let next = options.currentMaxBytes;
  if (stats.count > 0) {
    if (stats.avgQueryTimeMs > target) {
      const factor = options.autoAdjustForColumns ? (stats.columnAdjustmentFactor ?? 1) : 1;
      next = Math.min(next, stats.avgBytes / factor) * (options.shrink ?? 0.8);
    } else if (stats.avgQueryTimeMs < target * 0.5) next = next * (options.grow ?? 1.2);
  }
  return Math.floor(Math.min(max, Math.max(min, next)));
}
