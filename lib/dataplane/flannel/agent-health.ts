import * as http from 'http';
import { AgentMetrics } from './agent-metrics';

/**
 * flannel's health endpoint: `/healthz` is 200 while the process serves, `/readyz` is 200 once
 * rules are in place and the subnet file is written (503 before), plus `/metrics` (Prometheus).
 */
export class HealthServer {
  private server?: http.Server;

  constructor(private readonly isReady: () => boolean, private readonly metrics: AgentMetrics) {}

  public listen(port: number, host = '0.0.0.0'): Promise<number> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  public close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (path === '/readyz') return this.isReady() ? send(res, 200, 'ok\n') : send(res, 503, 'not ready\n');
    if (path === '/metrics') {
      try {
        return send(res, 200, await this.metrics.registry.metrics(), this.metrics.registry.contentType);
      } catch (error) {
        return send(res, 500, `${(error as Error).message}\n`);
      }
    }
    send(res, 404, 'not found\n');
  }
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}
