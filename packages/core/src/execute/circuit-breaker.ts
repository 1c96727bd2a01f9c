import { CircuitOpenError } from '../errors.js';

/** Circuit breaker settings. */
export interface CircuitBreakerOptions {
  /** Consecutive failed requests that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe request is let through, in ms (default 30_000). */
  resetTimeoutMs?: number;
  /** Clock, for tests (default `Date.now`). */
  now?: () => number;
}

/** The breaker's state. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Consecutive failures → open (requests fail fast with {@link CircuitOpenError}, nothing is sent) →
 * after `resetTimeoutMs` half-open (one probe) → closed on success, open again on failure.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private _state: CircuitState = 'closed';
  private probing = false;
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this._state === 'open' && this.now() - this.openedAt >= this.resetTimeoutMs)
      this._state = 'half-open';
    return this._state;
  }

  /** Throws {@link CircuitOpenError} when a request may not be sent now. */
  check(statementIndices?: readonly number[]): void {
    const s = this.state;
    if (s === 'closed') return;
    if (s === 'half-open' && !this.probing) {
      this.probing = true;
      return;
    }
    const wait = s === 'open' ? this.resetTimeoutMs - (this.now() - this.openedAt) : this.resetTimeoutMs;
    throw new CircuitOpenError(wait, statementIndices ? { statementIndices } : {});
  }

  /**
   * How long {@link check} would go on refusing requests, in ms: 0 when one may be sent now; while
   * another request probes a half-open circuit, `resetTimeoutMs` (its outcome decides).
   */
  refusesFor(): number {
    const s = this.state;
    if (s === 'closed' || (s === 'half-open' && !this.probing)) return 0;
    return s === 'open' ? this.resetTimeoutMs - (this.now() - this.openedAt) : this.resetTimeoutMs;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this._state = 'closed';
  }

  failure(): void {
    this.failures++;
    if (this._state === 'half-open' || this.failures >= this.failureThreshold) {
      this._state = 'open';
      this.openedAt = this.now();
    }
    this.probing = false;
  }
}
