import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { type Config, publicUrl } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import { createApp } from './app.js';

export interface HttpServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens on config.PORT (0 = any free port) and serves the app. */
export async function startHttpServer(deps: { config: Config; db: Db; logger: Logger; temporal?: Connection | undefined }): Promise<HttpServer> {
  // SCIM filters travel in the query string; allow long ones (the filter limit is enforced inside).
  const server = createServer({ maxHeaderSize: 64 * 1024 });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.PORT, deps.config.HOST, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = publicUrl(deps.config, port);
  server.on('request', createApp({ ...deps, publicUrl: url }));
  return {
    server,
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}
