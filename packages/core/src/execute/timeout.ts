import { TimeoutError } from '../errors.js';

/**
 * Run `fn` with a per-request timeout. On timeout the signal is aborted (adapters cancel the query on
 * the server) and the adapter gets `graceMs` to settle: if it then succeeds, the result stands; if it
 * fails, the {@link TimeoutError} carries that failure as `cause` (so its classification decides whether
 * the attempt had an effect); if it does not settle, the TimeoutError has no cause and the effect is
 * unknown.
 */
export async function withTimeout<T>(
  fn: (signal: AbortSignal | undefined) => Promise<T>,
  timeoutMs: number | undefined,
  graceMs: number,
): Promise<T> {
  if (!timeoutMs || timeoutMs <= 0) return fn(undefined);
  const ac = new AbortController();
  const settled = fn(ac.signal).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([settled, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') {
    if (first.ok) return first.value;
    throw first.error;
  }
  ac.abort(new TimeoutError(timeoutMs));
  // (a timer of our own, cleared when the request settles first: a pending grace timer would keep the
  // process alive for graceMs after every cancelled request)
  let grace: ReturnType<typeof setTimeout> | undefined;
  const gone = new Promise<'gone'>((resolve) => {
    grace = setTimeout(() => resolve('gone'), graceMs);
  });
  const late = await Promise.race([settled, gone]);
  clearTimeout(grace);
  if (late === 'gone') throw new TimeoutError(timeoutMs);
  if (late.ok) return late.value;
  throw new TimeoutError(timeoutMs, { cause: late.error });
}
