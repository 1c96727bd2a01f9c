/** A FIFO mutex. `lock()` resolves to the unlock function. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  lock(): Promise<() => void> {
    let unlock!: () => void;
    const next = new Promise<void>((resolve) => {
      unlock = resolve;
    });
    const ready = this.tail.then(() => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        unlock();
      };
    });
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

const perInstance = new WeakMap<object, Mutex>();

/** One mutex per driver instance, shared by every adapter wrapping it. */
export function mutexFor(instance: object): Mutex {
  let m = perInstance.get(instance);
  if (!m) {
    m = new Mutex();
    perInstance.set(instance, m);
  }
  return m;
}
