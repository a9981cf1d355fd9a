import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeObject, KubeStatus, KubeWatchEvent } from './types';

/**
 * A small typed client for the Kubernetes REST API (JSON over HTTP/1.1, `?watch=1` streams).
 *
 * Why not `@kubernetes/client-node`: its 1.x/2.x releases are ESM-only (jest here is CommonJS) and
 * 2.x needs Node ≥ 22 (undici 8), 0.x pulls in the deprecated `request`; and the agents use five
 * endpoints (nodes get/list/watch/patch status, custom resources CRUD). A ~200-line client over
 * node:http(s) keeps the agent's start-up and memory small and is tested against a server that
 * answers with the real API's shapes (test/support/fake-kube-api.ts).
 */
export interface KubeConnection {
  /** API server URL, e.g. `https://10.96.0.1:443` or `http://127.0.0.1:8080`. */
  readonly server: string;
  /** Bearer token. @default none */
  readonly token?: string;
  /**
   * File holding the bearer token, re-read on each request and each watch (projected service-account
   * tokens rotate: the kubelet swaps the file about every hour). While the file cannot be read or is
   * empty the last token read is kept, as client-go's cached token source does; a request fails only
   * when the file never could be read. Takes precedence over `token`. @default none
   */
  readonly tokenFile?: string;
  /** PEM CA bundle that signs the server certificate. @default the system roots */
  readonly ca?: string;
  /**
   * File holding the PEM CA bundle, re-read for each request and each watch, so that a CA bundle the
   * kubelet rotates (the `kube-root-ca.crt` ConfigMap behind the mounted `ca.crt`) is trusted without a
   * restart; connections opened with the old bundle are not reused for the new one. While the file
   * cannot be read or is empty the last bundle read (first `ca`) is kept. Takes precedence over `ca`,
   * which then only carries the bundle as it was at start (for callers that hand it on).
   * @default none (`ca`)
   */
  readonly caFile?: string;
  /** PEM client certificate and key. @default none */
  readonly cert?: string;
  readonly key?: string;
  /** Skip server certificate verification (tests only). @default false */
  readonly insecureSkipTlsVerify?: boolean;
  /** @default `cnikit` */
  readonly userAgent?: string;
  /** Give up on a request after this long without an answer. @default 30000 ms */
  readonly requestTimeoutMs?: number;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The connection a pod gets (client-go's `rest.InClusterConfig`): `https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT`, the mounted service-account token (`tokenFile`: re-read, it rotates) and
 * CA. The CA is read now (`ca`, so a pod without the mount fails at start) and again from `caFile`
 * for every request. client-go reads `ca.crt` once and needs a restart after a cluster CA rotation;
 * here the kubelet's update of the mounted bundle (old and new CA side by side during a rotation) is
 * picked up by the next connection.
 */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error('kubernetes: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set; run in a pod or pass a kubeconfig');
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caFile = path.join(dir, 'ca.crt');
  return { server, tokenFile: path.join(dir, 'token'), ca: fs.readFileSync(caFile, 'utf8'), caFile };
}

/** The pod's namespace, from the mounted service-account directory's `namespace` file. */
export function inClusterNamespace(dir = SERVICE_ACCOUNT_DIR): string {
  let namespace = '';
  try {
    namespace = fs.readFileSync(`${dir}/namespace`, 'utf8').trim();
  } catch {
    // reported below
  }
  if (!namespace) throw new Error(`kubernetes: ${dir}/namespace is missing or empty; run in a pod or set POD_NAMESPACE`);
  return namespace;
}

/**
 * The connection a kubeconfig file describes (flannel's --kubeconfig-file): the current context (or
 * `context`), its cluster's server and CA, its user's token, token file or client certificate.
 * `*-data` fields are base64 PEM; file paths are relative to the kubeconfig's directory. A
 * `certificate-authority` file is also kept as `caFile` (re-read, like the in-cluster CA); client
 * certificate files are read once. Exec and auth-provider plugins are not supported (an error says so).
 */
export function kubeconfigConnection(file: string, context?: string): KubeConnection {
  const fail = (what: string): never => {
    throw new Error(`kubeconfig ${file}: ${what}`);
  };
  const config = parseYaml(fs.readFileSync(file, 'utf8')) as KubeconfigFile | null;
  if (!config || typeof config !== 'object') fail('not a kubeconfig (expected a YAML mapping)');
  const contextName = context ?? config!['current-context'] ?? fail('no current-context and no context given');
  const named = <T>(list: { name: string }[] | undefined, name: string, what: string): T => {
    const entry = (list ?? []).find((e) => e.name === name) as ({ name: string } & Record<string, T>) | undefined;
    return entry?.[what] ?? fail(`${what} ${JSON.stringify(name)} not found`);
  };
  const ctx = named<{ cluster: string; user: string }>(config!.contexts, contextName, 'context');
  const cluster = named<KubeconfigCluster>(config!.clusters, ctx.cluster, 'cluster');
  const user: KubeconfigUser = ctx.user ? named<KubeconfigUser>(config!.users, ctx.user, 'user') : {};
  if (user.exec || user['auth-provider']) fail(`user ${JSON.stringify(ctx.user)} uses an exec or auth-provider plugin, which cnikit does not run; use a token or client certificate`);
  const dir = path.dirname(file);
  const pem = (data: string | undefined, ref: string | undefined): string | undefined => (data ? Buffer.from(data, 'base64').toString('utf8')
    : ref ? fs.readFileSync(path.resolve(dir, ref), 'utf8') : undefined);
  const server = cluster.server || fail(`cluster ${JSON.stringify(ctx.cluster)} has no server`);
  return {
    server,
    ca: pem(cluster['certificate-authority-data'], cluster['certificate-authority']),
    caFile: !cluster['certificate-authority-data'] && cluster['certificate-authority'] ? path.resolve(dir, cluster['certificate-authority']) : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: user.token,
    tokenFile: user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined,
    cert: pem(user['client-certificate-data'], user['client-certificate']),
    key: pem(user['client-key-data'], user['client-key']),
  };
}

interface KubeconfigCluster {
  readonly server?: string;
  readonly 'certificate-authority'?: string;
  readonly 'certificate-authority-data'?: string;
  readonly 'insecure-skip-tls-verify'?: boolean;
}
interface KubeconfigUser {
  readonly token?: string;
  readonly tokenFile?: string;
  readonly 'client-certificate'?: string;
  readonly 'client-certificate-data'?: string;
  readonly 'client-key'?: string;
  readonly 'client-key-data'?: string;
  readonly exec?: unknown;
  readonly 'auth-provider'?: unknown;
}
interface KubeconfigFile {
  readonly 'current-context'?: string;
  readonly contexts?: { name: string; context: { cluster: string; user: string } }[];
  readonly clusters?: { name: string; cluster: KubeconfigCluster }[];
  readonly users?: { name: string; user: KubeconfigUser }[];
}

/** An API error: the server's Status object, or a transport failure with code 0. */
export class KubeApiError extends Error {
  constructor(
    public readonly code: number,
    public readonly reason: string,
    message: string,
    public readonly status?: KubeStatus,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isKubeApiError(error: unknown, code?: number): error is KubeApiError {
  return error instanceof KubeApiError && (code === undefined || error.code === code);
}

export type PatchType = 'strategic' | 'merge' | 'json';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
};

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** Patch flavour for PATCH requests. @default `strategic` */
  readonly patchType?: PatchType;
}

export interface WatchStream {
  /** Ends the stream; `onEnd` is not called afterwards. */
  abort(): void;
}

export class KubeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  /** Watches hold their connection for minutes: their own agent keeps them out of the request pool. */
  private readonly watchAgent: http.Agent;
  private readonly tokenFile?: ReloadingFile;
  private readonly caFile?: ReloadingFile;

  constructor(public readonly connection: KubeConnection) {
    this.base = new URL(connection.server);
    // The agents carry no TLS material: each request passes the current CA, client certificate and
    // key, and the agents pool connections by them (https.Agent#getName), so a rotated CA bundle gets
    // a fresh connection instead of a kept-alive one verified with the old bundle.
    const agent = (keepAlive: boolean): http.Agent => (this.base.protocol === 'https:' ? new https.Agent({ keepAlive }) : new http.Agent({ keepAlive }));
    this.agent = agent(true);
    this.watchAgent = agent(false);
    if (connection.tokenFile) this.tokenFile = new ReloadingFile(connection.tokenFile, 'token file');
    if (connection.caFile) this.caFile = new ReloadingFile(connection.caFile, 'CA file', connection.ca);
  }

  /** One JSON request; non-2xx answers throw KubeApiError carrying the server's Status. */
  public request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let requestOptions: https.RequestOptions;
      try {
        requestOptions = this.requestOptions(method, this.agent);
      } catch (error) {
        reject(new KubeApiError(0, 'Credentials', `kubernetes: ${method} ${path}: ${(error as Error).message}`));
        return;
      }
      const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
      const headers = requestOptions.headers as http.OutgoingHttpHeaders;
      if (body) {
        headers['content-type'] = method === 'PATCH' ? PATCH_CONTENT_TYPES[options.patchType ?? 'strategic'] : 'application/json';
        headers['content-length'] = body.length;
      }
      const req = this.transport().request(this.url(path, options.query), requestOptions, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code >= 300) {
            reject(errorFromResponse(code, text, `${method} ${path}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            reject(new KubeApiError(code, 'BadResponse', `kubernetes: ${method} ${path}: response is not JSON`));
          }
        });
      });
      req.setTimeout(this.connection.requestTimeoutMs ?? 30000, () => req.destroy(new Error('no answer in time')));
      req.on('error', (error) => reject(new KubeApiError(0, 'Unreachable', `kubernetes: ${method} ${path}: ${error.message}`)));
      req.end(body);
    });
  }

  /**
   * Opens `GET <path>?watch=1&…` and calls `onEvent` for each JSON line. `onEnd` is called once when
   * the stream ends or fails (with the error), never before `watch` returns; the caller decides
   * whether to re-watch or relist.
   */
  public watch<T extends KubeObject>(
    path: string,
    query: Readonly<Record<string, string | number | boolean | undefined>>,
    onEvent: (event: KubeWatchEvent<T>) => void,
    onEnd: (error?: Error) => void,
  ): WatchStream {
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      onEnd(error);
    };
    let requestOptions: https.RequestOptions;
    try {
      requestOptions = this.requestOptions('GET', this.watchAgent);
    } catch (error) {
      const failure = new KubeApiError(0, 'Credentials', `kubernetes: WATCH ${path}: ${(error as Error).message}`);
      process.nextTick(() => finish(failure));
      return { abort: () => { done = true; } };
    }
    const req = this.transport().request(this.url(path, { ...query, watch: 1 }), requestOptions, (res) => {
      const code = res.statusCode ?? 0;
      if (code < 200 || code >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => finish(errorFromResponse(code, Buffer.concat(chunks).toString('utf8'), `WATCH ${path}`)));
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '' || done) continue;
          let event: KubeWatchEvent<T>;
          try {
            event = JSON.parse(line) as KubeWatchEvent<T>;
          } catch {
            finish(new KubeApiError(code, 'BadResponse', `kubernetes: WATCH ${path}: bad event line`));
            req.destroy();
            return;
          }
          onEvent(event);
        }
      });
      res.on('error', (error) => finish(error));
      res.on('end', () => finish());
      res.on('close', () => finish());
    });
    // A watch is told to end after timeoutSeconds; silence well past that means a dead connection.
    const timeoutSeconds = Number(query.timeoutSeconds ?? 0);
    if (timeoutSeconds > 0) req.setTimeout((timeoutSeconds + 60) * 1000, () => req.destroy(new Error('watch stream went silent')));
    req.on('error', (error) => finish(new KubeApiError(0, 'Unreachable', `kubernetes: WATCH ${path}: ${error.message}`)));
    req.end();
    return {
      abort: () => {
        done = true;
        req.destroy();
      },
    };
  }

  /** Closes idle keep-alive connections. */
  public close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  private transport(): typeof http | typeof https {
    return this.base.protocol === 'https:' ? https : http;
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + path, this.base);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url;
  }

  /** Method, headers (with the current token) and, over TLS, the current CA and client certificate; throws when a credential file cannot be read. */
  private requestOptions(method: string, agent: http.Agent): https.RequestOptions {
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': this.connection.userAgent ?? 'cnikit' };
    const token = this.tokenFile ? this.tokenFile.read().trim() : this.connection.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const options: https.RequestOptions = { method, headers, agent };
    if (this.base.protocol === 'https:') {
      const ca = this.caFile ? this.caFile.read() : this.connection.ca;
      if (ca !== undefined) options.ca = ca;
      if (this.connection.cert !== undefined) options.cert = this.connection.cert;
      if (this.connection.key !== undefined) options.key = this.connection.key;
      options.rejectUnauthorized = !this.connection.insecureSkipTlsVerify;
    }
    return options;
  }
}

/**
 * A credential file that is read again on every use. A file that cannot be read or is empty (removed
 * or being rewritten) yields the last content read; only a file that never could be read is an error.
 */
class ReloadingFile {
  constructor(
    private readonly file: string,
    private readonly what: string,
    private last?: string,
  ) {}

  public read(): string {
    let problem: string;
    try {
      const text = fs.readFileSync(this.file, 'utf8');
      if (text.trim() !== '') {
        this.last = text;
        return text;
      }
      problem = 'is empty';
    } catch (error) {
      problem = `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
    }
    if (this.last !== undefined) return this.last;
    throw new Error(`${this.what} ${this.file} ${problem}`);
  }
}

function errorFromResponse(code: number, text: string, what: string): KubeApiError {
  try {
    const status = JSON.parse(text) as KubeStatus;
    if (status && status.kind === 'Status') {
      return new KubeApiError(code, status.reason || String(code), `kubernetes: ${what}: ${status.message} (${code} ${status.reason})`, status);
    }
  } catch {
    // not a Status: fall through
  }
  return new KubeApiError(code, String(code), `kubernetes: ${what}: HTTP ${code} ${text.slice(0, 200)}`);
}
