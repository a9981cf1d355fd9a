import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { ValidationError } from '../../model/errors';
import { Clock, systemClock } from '../bgp/session/clock';
import { KubeClient } from '../datastore/kube/client';
import { Logger, jsonLogger } from '../flannel/agent-log';

/**
 * The CNI plugin's kubeconfig, written and kept fresh by the agent (calico-node's token refresher,
 * node/pkg/cni/token_watch.go): a token of the plugin's ServiceAccount minted with the TokenRequest
 * API, the API server and CA the agent itself uses (the plugin runs on the host, host network, so it
 * reaches the API where the agent does). The plugin opens its client from this file on every call,
 * so a rewritten file is picked up by the next call.
 */

/** calico-node asks for 24 h tokens. */
export const CNI_TOKEN_SECONDS = 24 * 60 * 60;
/** The API server refuses shorter tokens (`may not specify a duration less than 10 minutes`). */
export const MIN_TOKEN_SECONDS = 600;
/** Never refresh more often than this, even when the server grants a token that is (or, by our clock, looks) almost expired. */
export const MIN_REFRESH_MS = 10_000;
/** Failed attempts are retried after 2 s, 4 s, 8 s … up to a minute. */
export const RETRY_INITIAL_MS = 2000;
export const RETRY_MAX_MS = 60_000;

/** `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` body (authentication.k8s.io/v1 TokenRequest); no audiences = the API server's. */
export function tokenRequestBody(expirationSeconds: number): { apiVersion: string; kind: string; spec: { expirationSeconds: number } } {
  return { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } };
}

export function tokenRequestPath(namespace: string, serviceAccount: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
}

export interface MintedToken {
  readonly token: string;
  /** Epoch milliseconds, from `status.expirationTimestamp` (the server may grant another lifetime than asked). */
  readonly expiresAt: number;
}

/** Decodes the server's TokenRequest answer at the edge; anything unusable is one line naming the field. */
export function decodeTokenRequest(response: unknown): MintedToken {
  const status = (response as { status?: { token?: unknown; expirationTimestamp?: unknown } } | null)?.status;
  const token = status?.token;
  // Only an absent or empty token is quoted back: a value is never logged.
  if (typeof token !== 'string' || token === '') {
    throw new ValidationError('TokenRequest status.token', token === undefined || token === null || token === '' ? token : `(a ${typeof token})`, 'a non-empty string');
  }
  const stamp = status?.expirationTimestamp;
  const expiresAt = typeof stamp === 'string' && /^\d{4}-\d\d-\d\dT/.test(stamp) ? Date.parse(stamp) : NaN;
  if (Number.isNaN(expiresAt)) throw new ValidationError('TokenRequest status.expirationTimestamp', stamp, 'an RFC 3339 time such as 2024-01-02T03:04:05Z');
  return { token, expiresAt };
}

export interface CniKubeconfigContent {
  /** API server URL, e.g. `https://10.96.0.1:443`. */
  readonly server: string;
  /** PEM CA bundle; written as `certificate-authority-data`. @default none (system roots) */
  readonly ca?: string;
  /** @default false */
  readonly insecureSkipTlsVerify?: boolean;
  readonly token: string;
}

/** The kubeconfig text (upstream's names: cluster `local`, user `calico`, context `calico-context`). Pure. */
export function renderCniKubeconfig(content: CniKubeconfigContent): string {
  const cluster: Record<string, string | boolean> = { server: content.server };
  if (content.ca) cluster['certificate-authority-data'] = Buffer.from(content.ca, 'utf8').toString('base64');
  if (content.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster }],
    users: [{ name: 'calico', user: { token: content.token } }],
    contexts: [{ name: 'calico-context', context: { cluster: 'local', user: 'calico' } }],
    'current-context': 'calico-context',
  };
  return `# Kubeconfig of the cnikit CNI plugin, written and refreshed by the calico-node agent; do not edit.\n${stringifyYaml(config, { lineWidth: 0 })}`;
}

/** Longest delay a Node timer keeps (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When to mint the next token: once two thirds of the lifetime left at `now` have passed, i.e. with a
 * third left (16 h into a 24 h token, 8 h of margin for retries). calico-node waits a quarter of the
 * remaining lifetime plus up to another quarter of jitter, i.e. refreshes with ½–¾ left.
 */
export function refreshDelayMs(now: number, expiresAt: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(MIN_REFRESH_MS, Math.floor(((expiresAt - now) * 2) / 3)));
}

/** Backoff after `failures` consecutive failed attempts (1, 2, …). */
export function retryDelayMs(failures: number, initialMs = RETRY_INITIAL_MS, maxMs = RETRY_MAX_MS): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

/** Writes `content` to `file` with mode 0600 so that readers see the old file or the new one, never a part: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  // `.tmp`: never taken for a network configuration by the runtime (it loads *.conf, *.conflist, *.json).
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.chmod(0o600); // whatever the umask
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
}

export interface CniKubeconfigWriterOptions {
  /** The agent's client: it needs `create serviceaccounts/token` on the plugin's account. */
  readonly client: Pick<KubeClient, 'request'>;
  /** The plugin's ServiceAccount (`CNI_SERVICE_ACCOUNT`). */
  readonly serviceAccount: string;
  /** Its namespace (the agent's: `POD_NAMESPACE` or the service-account directory's `namespace`). */
  readonly namespace: string;
  /** Where the plugin reads it (`CNI_KUBECONFIG`). */
  readonly path: string;
  /** API server URL and CA the plugin uses: the agent's. */
  readonly server: string;
  readonly ca?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** Lifetime asked for. @default CNI_TOKEN_SECONDS (24 h) */
  readonly expirationSeconds?: number;
  /** First retry delay and cap. @default RETRY_INITIAL_MS, RETRY_MAX_MS */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** @default the system clock */
  readonly clock?: Clock;
  readonly log?: Logger;
}

/**
 * Mints the token, writes the kubeconfig, and mints again when a third of the token's lifetime is
 * left. A failed attempt (API error, unusable answer, write error) is logged and retried with
 * backoff; the last good file is never removed or truncated.
 */
export class CniKubeconfigWriter {
  private readonly clock: Clock;
  private readonly log: Logger;
  private timer?: unknown;
  private inflight?: Promise<void>;
  private failures = 0;
  private stopped = false;
  private current?: MintedToken;
  private started?: Promise<void>;
  private firstWritten?: () => void;

  constructor(private readonly options: CniKubeconfigWriterOptions) {
    const seconds = options.expirationSeconds ?? CNI_TOKEN_SECONDS;
    if (!Number.isInteger(seconds) || seconds < MIN_TOKEN_SECONDS || seconds > 2 ** 32) {
      throw new ValidationError('expirationSeconds', seconds, `an integer from ${MIN_TOKEN_SECONDS} to 4294967296 (the TokenRequest API's range)`);
    }
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? jsonLogger('info');
  }

  /** Expiry of the token in the file (epoch ms), once one was written. */
  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }

  /** Consecutive failed attempts since the last write. */
  get failedAttempts(): number {
    return this.failures;
  }

  /**
   * Writes the file (the first mint happens here, so the agent is not ready without it), retrying
   * with backoff until it succeeds; resolves once written, or when stop() is called first.
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    this.started = new Promise<void>((resolve) => {
      this.firstWritten = resolve;
    });
    if (!this.stopped) this.inflight = this.attempt();
    else this.firstWritten?.();
    return this.started;
  }

  /** No mint or write starts after this; waits for one in flight. The file stays. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.firstWritten?.();
    await this.settled();
  }

  /** Resolves when the attempt in flight, if any, has finished (and the next one is scheduled). */
  settled(): Promise<void> {
    return this.inflight ?? Promise.resolve();
  }

  private async attempt(): Promise<void> {
    const o = this.options;
    try {
      const response = await o.client.request<unknown>('POST', tokenRequestPath(o.namespace, o.serviceAccount), {
        body: tokenRequestBody(o.expirationSeconds ?? CNI_TOKEN_SECONDS),
      });
      const minted = decodeTokenRequest(response);
      if (this.stopped) return;
      await writeFileAtomic(o.path, renderCniKubeconfig({ server: o.server, ca: o.ca, insecureSkipTlsVerify: o.insecureSkipTlsVerify, token: minted.token }));
      this.current = minted;
      this.failures = 0;
      const delay = refreshDelayMs(this.clock.now(), minted.expiresAt);
      this.log.info('CNI kubeconfig written', {
        path: o.path, serviceAccount: `${o.namespace}/${o.serviceAccount}`, expires: new Date(minted.expiresAt).toISOString(), refreshInSeconds: Math.round(delay / 1000),
      });
      this.firstWritten?.();
      this.firstWritten = undefined;
      this.schedule(delay);
    } catch (error) {
      if (this.stopped) return;
      this.failures++;
      const delay = retryDelayMs(this.failures, o.retryInitialMs, o.retryMaxMs);
      this.log.warn(this.current ? 'CNI kubeconfig refresh failed; the file keeps the previous token' : 'CNI kubeconfig not written yet', {
        path: o.path, error: (error as Error).message.split('\n')[0], attempt: this.failures, retryInSeconds: delay / 1000,
        ...(this.current ? { tokenExpires: new Date(this.current.expiresAt).toISOString() } : {}),
      });
      this.schedule(delay);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.inflight = this.attempt();
    }, ms);
  }
}
