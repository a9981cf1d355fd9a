// Typha (what the calico-typha Deployment runs): one set of datastore watches fanned out to every
// node agent over TCP (lib/dataplane/typha). SIGTERM closes the agents' connections; they move to
// another replica and resync from its snapshot.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import { WatchCache, storeFeed } from '../lib/dataplane/datastore/watch-cache';
import { jsonLogger } from '../lib/dataplane/flannel/agent-log';
import { OutageLog, retryReporter } from '../lib/dataplane/datastore/outage';
import { TYPHA_PREFIXES } from '../lib/dataplane/typha/prefixes';
import { TyphaServer } from '../lib/dataplane/typha/server';
import { ValidationError } from '../lib/model/errors';

const VERSION = 'cnikit-calico-typha 0.1.0';
const USAGE = `cnikit-calico-typha: fans the datastore out to the node agents (Calico's Typha)
Environment (flags override; --flag=value):
  TYPHA_DATASTORETYPE    --datastore-type   kubernetes (default) | etcdv3
  ETCD_ENDPOINTS         --etcd-endpoints   comma-separated URLs (etcdv3)
  KUBECONFIG             --kubeconfig       (default: in-cluster)
  TYPHA_PORT             --port             agents connect here (default 5473)
  TYPHA_HEALTHENABLED, TYPHA_HEALTHHOST, TYPHA_HEALTHPORT   /liveness /readiness /metrics (default true, localhost, 9098)
  TYPHA_SERVERCERTFILE, TYPHA_SERVERKEYFILE [, TYPHA_CAFILE]  serve TLS [and require agent certificates signed by the CA]
  TYPHA_LOGSEVERITYSCREEN                   Debug | Info | Warning | Error (default Info)
  --help --version`;

function config(argv: readonly string[], env: NodeJS.ProcessEnv) {
  const flags = new Map(argv.map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new ValidationError('arguments', a, '--flag=value (see --help)');
    return [m[1], m[2] ?? 'true'] as const;
  }));
  const get = (flag: string, name: string) => flags.get(flag) ?? (env[name] || undefined);
  const port = (flag: string, name: string, fallback: number) => {
    const v = get(flag, name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValidationError(name, v, 'a TCP port (0 picks a free one)');
    return n;
  };
  const type = (get('datastore-type', 'TYPHA_DATASTORETYPE') ?? 'kubernetes').toLowerCase();
  if (type !== 'kubernetes' && type !== 'etcdv3') throw new ValidationError('TYPHA_DATASTORETYPE', type, '"kubernetes" or "etcdv3"');
  const endpoints = (get('etcd-endpoints', 'ETCD_ENDPOINTS') ?? '').split(',').filter(Boolean);
  if (type === 'etcdv3' && !endpoints.length) throw new ValidationError('ETCD_ENDPOINTS', '', 'comma-separated http(s):// URLs');
  const kubeconfig = get('kubeconfig', 'KUBECONFIG');
  const health = (env.TYPHA_HEALTHENABLED ?? 'true').toLowerCase();
  if (health !== 'true' && health !== 'false') throw new ValidationError('TYPHA_HEALTHENABLED', env.TYPHA_HEALTHENABLED, 'true or false');
  const severity = env.TYPHA_LOGSEVERITYSCREEN ?? 'Info';
  const levels: Record<string, 'debug' | 'info' | 'warn' | 'error'> = { debug: 'debug', info: 'info', warning: 'warn', error: 'error', fatal: 'error' };
  const logLevel = levels[severity.toLowerCase()];
  if (!logLevel) throw new ValidationError('TYPHA_LOGSEVERITYSCREEN', severity, 'Debug, Info, Warning or Error');
  const certFile = env.TYPHA_SERVERCERTFILE;
  const keyFile = env.TYPHA_SERVERKEYFILE;
  if (!certFile !== !keyFile) throw new ValidationError(certFile ? 'TYPHA_SERVERKEYFILE' : 'TYPHA_SERVERCERTFILE', certFile ? keyFile : certFile, 'set together with the other of TYPHA_SERVERCERTFILE / TYPHA_SERVERKEYFILE');
  if (env.TYPHA_CAFILE && !certFile) throw new ValidationError('TYPHA_CAFILE', env.TYPHA_CAFILE, 'set only with TYPHA_SERVERCERTFILE and TYPHA_SERVERKEYFILE');
  return {
    help: flags.has('help'),
    version: flags.has('version'),
    datastore: type === 'etcdv3' ? { type, endpoints } as const : { type, ...(kubeconfig ? { kubeconfig } : {}) } as const,
    port: port('port', 'TYPHA_PORT', 5473),
    health: health === 'true' ? { host: env.TYPHA_HEALTHHOST || 'localhost', port: port('health-port', 'TYPHA_HEALTHPORT', 9098) } : undefined,
    tls: certFile && keyFile ? { certFile, keyFile, caFile: env.TYPHA_CAFILE } : undefined,
    logLevel,
  };
}

async function main(): Promise<void> {
  const c = config(process.argv.slice(2), process.env);
  if (c.help) return void console.log(USAGE);
  if (c.version) return void console.log(VERSION);
  const log = jsonLogger(c.logLevel);
  const outage = new OutageLog(log);
  const store = await openCalicoStore(c.datastore, outage);
  const cache = new WatchCache(storeFeed(store), TYPHA_PREFIXES, retryReporter(log, 'datastore watch failed; retrying', outage));
  const tls = c.tls && { cert: fs.readFileSync(c.tls.certFile, 'utf8'), key: fs.readFileSync(c.tls.keyFile, 'utf8'), ...(c.tls.caFile ? { ca: fs.readFileSync(c.tls.caFile, 'utf8') } : {}) };
  const server = new TyphaServer({ cache, port: c.port, ...(tls ? { tls } : {}), log });
  let synced = false;
  void cache.synced.then(() => {
    synced = true;
    log.info('datastore synced', { prefixes: TYPHA_PREFIXES.length });
  });
  if (c.health) {
    const health = http.createServer((req, res) => {
      const route = (req.url ?? '/').split('?')[0];
      if (route === '/liveness') return void res.writeHead(200).end('ok\n');
      if (route === '/readiness') return void (synced ? res.writeHead(200).end('ok\n') : res.writeHead(503).end('not ready: the datastore has not synced yet\n'));
      if (route === '/metrics') {
        return void server.metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': server.metrics.registry.contentType }).end(body));
      }
      res.writeHead(404).end('not found\n');
    });
    await new Promise<void>((resolve, reject) => health.once('error', reject).listen(c.health?.port, c.health?.host, () => resolve()));
  }
  await server.start();
  log.info('serving', { version: VERSION, port: server.port, datastore: c.datastore.type, tls: tls !== undefined });
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down; agents move to another replica', { signal });
      void server.stop().finally(() => store.close().finally(() => process.exit(0)));
    });
  }
}

main().catch((error: Error) => {
  console.error(`calico-typha: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
