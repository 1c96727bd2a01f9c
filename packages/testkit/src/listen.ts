import type { AddressInfo, Server } from 'node:net';

/** Listen on an ephemeral port on 127.0.0.1; resolves to the port. Shared by the test servers. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
