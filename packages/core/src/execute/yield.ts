/** What {@link createYield} needs from the global scope. */
export interface YieldEnvironment {
  setImmediate?: (callback: () => void) => unknown;
  MessageChannel?: new () => {
    port1: { onmessage: unknown; unref?: () => void };
    port2: { postMessage(message: unknown): void };
  };
  setTimeout: (callback: () => void, ms: number) => unknown;
}

/**
 * A function resolving once pending I/O callbacks have had a chance to run: `setImmediate` in Node;
 * elsewhere a `MessageChannel` message (nested `setTimeout(0)` calls are clamped to 4 ms each, which
 * thousands of yields would add up); `setTimeout(0)` as the last resort.
 */
export function createYield(env: YieldEnvironment): () => Promise<void> {
  const immediate = env.setImmediate;
  if (typeof immediate === 'function') return () => new Promise((resolve) => immediate(resolve));
  const Channel = env.MessageChannel;
  if (typeof Channel === 'function') {
    let post: (() => void) | undefined;
    const waiting: (() => void)[] = [];
    return () =>
      new Promise<void>((resolve) => {
        if (!post) {
          const channel = new Channel();
          channel.port1.onmessage = () => waiting.shift()?.();
          // (Node keeps a port with a listener alive; nothing here should hold the process open)
          channel.port1.unref?.();
          post = () => channel.port2.postMessage(null);
        }
        waiting.push(resolve);
        post();
      });
  }
  return () => new Promise((resolve) => env.setTimeout(resolve, 0));
}
