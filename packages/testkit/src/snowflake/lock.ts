/** A FIFO async lock with an optional wait timeout. */
export class FifoLock {
  #held = false;
  readonly #waiters: Array<{ grant: () => void }> = [];

  /** Resolves with a release function, or rejects with `onTimeout()` after `timeoutMs` of waiting. */
  acquire(timeoutMs?: number, onTimeout?: () => Error): Promise<() => void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        grant: () => {
          if (timer) clearTimeout(timer);
          resolve(this.#releaser());
        },
      };
      this.#waiters.push(waiter);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at !== -1) this.#waiters.splice(at, 1);
          reject(onTimeout ? onTimeout() : new Error(`lock wait exceeded ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref?.();
      }
    });
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiters.shift();
      if (next) next.grant();
      else this.#held = false;
    };
  }
}
