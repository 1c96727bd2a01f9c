import * as net from 'node:net';

/** Where to cut: when a client→server chunk contains `match` for the `occurrence`-th time. */
export interface CutRule {
  match: string;
  /**
   * `before`: drop the chunk (the server never sees it); `after`: deliver it, then cut; `freeze`:
   * deliver it, then pass nothing more either way, without closing (a frozen server, a partition).
   */
  mode: 'before' | 'after' | 'freeze';
  occurrence?: number;
}

/**
 * A TCP proxy between the pg client and the server that cuts a connection at a chosen point of the
 * client's byte stream: mid-batch, mid-COPY, at COMMIT. One-shot: later connections pass through.
 */
export class FaultProxy {
  private server: net.Server | undefined;
  private rule: (CutRule & { seen: number }) | undefined;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** Connections cut so far. */
  cuts = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Arm a one-shot cut. */
  arm(rule: CutRule): void {
    this.rule = { ...rule, seen: 0 };
  }

  get armed(): boolean {
    return this.rule !== undefined;
  }

  private refusals = 0;

  /** Hang up on the next `n` new connections before they reach the server (a failed connect). */
  refuseNext(n = 1): void {
    this.refusals += n;
  }

  private accept(client: net.Socket): void {
    if (this.refusals > 0) {
      this.refusals--;
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    let tail = '';
    let frozen = false;
    client.on('data', (chunk: Buffer) => {
      if (frozen) return;
      const rule = this.rule;
      if (rule) {
        // Search across chunk boundaries too.
        const text = tail + chunk.toString('latin1');
        tail = text.slice(-Math.max(rule.match.length - 1, 0));
        if (text.includes(rule.match) && ++rule.seen >= (rule.occurrence ?? 1)) {
          this.rule = undefined;
          this.cuts++;
          if (rule.mode === 'freeze') {
            upstream.write(chunk);
            frozen = true;
          } else if (rule.mode === 'after') {
            upstream.end(chunk);
            client.destroy();
          } else {
            upstream.destroy();
            client.destroy();
          }
          return;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!frozen) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }

  /**
   * What a server restart looks like from the client: every connection is dropped at once, and new
   * connections are refused (ECONNREFUSED) for `ms` milliseconds.
   */
  async outage(ms: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.cuts++;
    await closed;
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
