/** Retry policy for requests whose failed attempt is known to have had no effect (invariant 5). */
export interface RetryOptions {
  /** Attempts in all, including the first (default 3). 1 disables retries. */
  maxAttempts?: number;
  /** Delay before the first retry in ms (default 100). */
  initialDelayMs?: number;
  /** Upper bound of any delay in ms (default 5_000). */
  maxDelayMs?: number;
  /** Growth factor per attempt (default 2). */
  factor?: number;
  /** Full jitter: each delay is uniform in [0, computed delay] (default true). */
  jitter?: boolean;
  /**
   * Extra say on whether an error is transient, after the adapter's classification. Returning false
   * vetoes a retry; returning true cannot make an attempt with unknown effect retryable.
   */
  isRetryable?: (error: unknown, attempt: number) => boolean;
}

/** Resolved retry policy. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly jitter: boolean;
  readonly isRetryable: ((error: unknown, attempt: number) => boolean) | undefined;
}

/** Defaults merged with `options`; `false` means no retries. */
export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  const o = options === false ? { maxAttempts: 1 } : (options ?? {});
  const p = {
    maxAttempts: o.maxAttempts ?? 3,
    initialDelayMs: o.initialDelayMs ?? 100,
    maxDelayMs: o.maxDelayMs ?? 5_000,
    factor: o.factor ?? 2,
    jitter: o.jitter ?? true,
    isRetryable: o.isRetryable,
  };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1)
    throw new RangeError('retry.maxAttempts must be an integer >= 1');
  return p;
}

/** Delay before retry number `retry` (1-based), exponential with cap and optional full jitter. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (retry - 1));
  return policy.jitter ? Math.floor(random() * exp) : exp;
}

/** Resolve after `ms`, or reject early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
