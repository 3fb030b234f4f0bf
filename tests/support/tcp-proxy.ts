/**
 * A TCP proxy on loopback for outage tests: clients dial the proxy, which
 * forwards to the real server. `cut()` drops every connection and refuses
 * new ones, as a server restarting or a cable pulled would; `restore()`
 * accepts again on the same port.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const makeServer = (): Server =>
    createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  const listen = (server: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
  let server: Server | null = makeServer();
  const port = await listen(server, 0);
  const cut = async (): Promise<void> => {
    const open = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (open) await closeServer(open);
  };
  const restore = async (): Promise<void> => {
    if (server) return;
    server = makeServer();
    await listen(server, port);
  };
  return { port, cut, restore, close: cut };
}
