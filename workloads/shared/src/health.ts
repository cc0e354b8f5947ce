// Liveness and readiness over HTTP for Kubernetes probes: GET /healthz (the process is alive)
// and GET /readyz (it is doing its job). Off when HEALTH_PORT is unset or 0.
import { createServer, type Server } from 'node:http';

export function startHealthServer(port: number, ready: () => boolean, host = '0.0.0.0'): Server | undefined {
  if (!port) return undefined;
  const server = createServer((req, res) => {
    const ok = req.url === '/healthz' ? true : req.url === '/readyz' ? ready() : undefined;
    res.statusCode = ok === undefined ? 404 : ok ? 200 : 503;
    res.end(ok === undefined ? 'not found\n' : ok ? 'ok\n' : 'not ready\n');
  });
  server.listen(port, host);
  server.unref();
  return server;
}

export function healthPort(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.HEALTH_PORT ?? 0);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : 0;
}
