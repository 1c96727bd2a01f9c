/**
 * Request-time distribution with bounded memory.
 *
 * Exact samples are kept for the first `exactLimit` values so small runs get exact percentiles; past
 * that, percentiles come from a log-scale histogram whose buckets are 1% apart (relative error at most
 * 1%), so a run of millions of requests keeps a few kilobytes, not one number per request.
 */

/** Upper bounds (seconds) of the fixed Prometheus histogram buckets. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Values at or below this (ms) share the first bucket. */
const MIN_MS = 0.001;
/** 1 µs .. ~1 day at 1% resolution. */
const BUCKETS = Math.ceil(Math.log(86_400_000 / MIN_MS) / LOG_GROWTH) + 2;

export class TimingDistribution {
  private readonly exactLimit: number;
  private exact: number[] = [];
  private sortedCache: number[] | undefined;
  private readonly log = new Uint32Array(BUCKETS);
  private readonly fixed = new Float64Array(DURATION_BUCKETS_SECONDS.length);
  private n = 0;
  private sumMs = 0;
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = 0;

  constructor(exactLimit = 10_000) {
    this.exactLimit = exactLimit;
  }

  add(ms: number): void {
    const v = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.n++;
    this.sumMs += v;
    if (v < this.minMs) this.minMs = v;
    if (v > this.maxMs) this.maxMs = v;
    if (this.exact.length < this.exactLimit) {
      this.exact.push(v);
      this.sortedCache = undefined;
    }
    const idx = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.log[idx] = (this.log[idx] ?? 0) + 1;
    const seconds = v / 1000;
    for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) {
      if (seconds <= (DURATION_BUCKETS_SECONDS[i] as number)) {
        this.fixed[i] = (this.fixed[i] ?? 0) + 1;
        break;
      }
    }
  }

  get count(): number {
    return this.n;
  }
  get totalMs(): number {
    return this.sumMs;
  }
  get min(): number {
    return this.n === 0 ? 0 : this.minMs;
  }
  get max(): number {
    return this.maxMs;
  }
  /** True while every sample is kept, i.e. percentiles are exact. */
  get isExact(): boolean {
    return this.n <= this.exactLimit;
  }

  /** Nearest-rank percentile (`q` in 0..1) in milliseconds; 0 when empty. */
  percentile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    if (this.isExact) {
      this.sortedCache ??= [...this.exact].sort((a, b) => a - b);
      return this.sortedCache[rank - 1] as number;
    }
    let seen = 0;
    for (let i = 0; i < this.log.length; i++) {
      seen += this.log[i] as number;
      if (seen >= rank) {
        const upper = i === 0 ? MIN_MS : MIN_MS * GROWTH ** i;
        return Math.min(this.maxMs, Math.max(this.minMs, upper));
      }
    }
    return this.maxMs;
  }

  /** Cumulative counts for {@link DURATION_BUCKETS_SECONDS} (without `+Inf`, which is `count`). */
  cumulativeBuckets(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const c of this.fixed) {
      acc += c;
      out.push(acc);
    }
    return out;
  }
}
