import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CNI_TOKEN_SECONDS, CniKubeconfigWriter, CniKubeconfigWriterOptions, MIN_REFRESH_MS, decodeTokenRequest, refreshDelayMs, renderCniKubeconfig,
  retryDelayMs, tokenRequestBody, writeFileAtomic,
} from '../../../lib/dataplane/calico/cni-kubeconfig';
import { CALICO_AGENT_OWNERSHIP, CalicoAgent } from '../../../lib/dataplane/calico/agent';
import { KubeNodeRegistry } from '../../../lib/dataplane/calico/node-registry';
import { KubeClient, inClusterConnection, inClusterNamespace, kubeconfigConnection } from '../../../lib/dataplane/datastore/kube/client';
import { CALICO_KINDS, KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { Logger } from '../../../lib/dataplane/flannel/agent-log';
import { MemoryNetwork } from '../../../lib/dataplane/kernel/memory-kernel';
import { FakeKubeApi, startFakeKubeApi } from '../../support/fake-kube-api';
import { ManualClock } from '../../support/manual-clock';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n';
const SERVER = 'https://10.96.0.1:443';
const HOUR = 3600_000;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-cni-kubeconfig-'));
}

describe('CNI kubeconfig: pure parts', () => {
  test('the rendered kubeconfig reads back through kubeconfigConnection(): server, CA, token', () => {
    const dir = tempDir();
    const file = path.join(dir, 'calico-kubeconfig');
    fs.writeFileSync(file, renderCniKubeconfig({ server: 'https://[fd00::1]:6443', ca: CA, token: 'header.payload.signature' }));
    expect(kubeconfigConnection(file)).toEqual({
      server: 'https://[fd00::1]:6443', ca: CA, insecureSkipTlsVerify: false, token: 'header.payload.signature',
      tokenFile: undefined, cert: undefined, key: undefined,
    });
    fs.writeFileSync(file, renderCniKubeconfig({ server: 'http://127.0.0.1:8080', insecureSkipTlsVerify: true, token: 't' }));
    expect(kubeconfigConnection(file)).toMatchObject({ server: 'http://127.0.0.1:8080', ca: undefined, insecureSkipTlsVerify: true, token: 't' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('TokenRequest body and answer', () => {
    expect(tokenRequestBody(CNI_TOKEN_SECONDS)).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86400 } });
    expect(decodeTokenRequest({ status: { token: 'abc', expirationTimestamp: '2030-01-02T00:00:00Z' } })).toEqual({ token: 'abc', expiresAt: Date.UTC(2030, 0, 2) });
    expect(() => decodeTokenRequest({ status: { expirationTimestamp: '2030-01-02T00:00:00Z' } })).toThrow(/^TokenRequest status\.token: \(unset\) is not valid; expected a non-empty string$/);
    expect(() => decodeTokenRequest({ status: { token: 42, expirationTimestamp: '2030-01-02T00:00:00Z' } })).toThrow('TokenRequest status.token: "(a number)" is not valid');
    expect(() => decodeTokenRequest({ status: { token: 'abc', expirationTimestamp: 'tomorrow' } }))
      .toThrow(/^TokenRequest status\.expirationTimestamp: "tomorrow" is not valid; expected an RFC 3339 time/);
    expect(() => decodeTokenRequest(null)).toThrow('TokenRequest status.token: (unset)');
  });

  test('refresh with a third of the lifetime left; backoff doubles to a cap', () => {
    expect(refreshDelayMs(0, 24 * HOUR)).toBe(16 * HOUR);
    expect(refreshDelayMs(0, 600_000)).toBe(400_000);
    // Expired (or skewed) tokens do not make it spin.
    expect(refreshDelayMs(10 * HOUR, 9 * HOUR)).toBe(MIN_REFRESH_MS);
    // Node timers cannot wait longer than 2^31-1 ms.
    expect(refreshDelayMs(0, 2 ** 32 * 1000)).toBe(2 ** 31 - 1);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n))).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(retryDelayMs(3, 100, 1000)).toBe(400);
  });

  test('atomic write: mode 0600 even over an older 0644 file, no temp file left', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'net.d', 'calico-kubeconfig');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    await writeFileAtomic(file, 'new');
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['calico-kubeconfig']);
    // A failed write (the target is a directory) leaves no temp file behind.
    fs.mkdirSync(path.join(dir, 'net.d', 'taken'));
    await expect(writeFileAtomic(path.join(dir, 'net.d', 'taken'), 'x')).rejects.toThrow();
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['calico-kubeconfig', 'taken']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('server and CA from the in-cluster connection (IPv6 bracketed); namespace from the service-account directory', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'ca.crt'), CA);
    fs.writeFileSync(path.join(dir, 'namespace'), 'kube-system');
    expect(inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }, dir)).toMatchObject({ server: 'https://[fd00:10:96::1]:443', ca: CA });
    expect(inClusterNamespace(dir)).toBe('kube-system');
    fs.rmSync(path.join(dir, 'namespace'));
    expect(() => inClusterNamespace(dir)).toThrow(/^kubernetes: .*\/namespace is missing or empty; run in a pod or set POD_NAMESPACE$/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('CNI kubeconfig writer (API server double, manual clock)', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let clock: ManualClock;
  let dir: string;
  let file: string;
  let lines: { level: string; msg: string; fields: Record<string, unknown> }[];

  const log: Logger = {
    debug: (msg, fields = {}) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields = {}) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields = {}) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields = {}) => lines.push({ level: 'error', msg, fields }),
  };
  const writer = (extra: Partial<CniKubeconfigWriterOptions> = {}): CniKubeconfigWriter => new CniKubeconfigWriter({
    client, serviceAccount: 'calico-cni-plugin', namespace: 'kube-system', path: file, server: SERVER, ca: CA, clock, log, ...extra,
  });
  const tokenRequests = () => api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/token'));
  const tokenInFile = () => kubeconfigConnection(file).token;

  beforeAll(async () => {
    clock = new ManualClock();
    api = await startFakeKubeApi({ now: () => clock.now() });
    client = new KubeClient({ server: api.url });
    api.upsert('serviceaccounts', { metadata: { name: 'calico-cni-plugin' } }, 'kube-system');
  });
  afterAll(async () => {
    client?.close();
    await api?.close();
  });
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'net.d', 'calico-kubeconfig');
    lines = [];
    api.requests.length = 0;
    api.setTokenLifetime(undefined);
    api.failNext(0);
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('start mints a 24 h token and writes the file 0600 before resolving; the plugin reads server, CA and token back', async () => {
    const w = writer();
    await w.start();
    expect(tokenRequests()).toEqual([expect.objectContaining({
      path: '/api/v1/namespaces/kube-system/serviceaccounts/calico-cni-plugin/token',
      contentType: 'application/json',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86400 } },
    })]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(kubeconfigConnection(file)).toMatchObject({ server: SERVER, ca: CA, token: api.issuedTokens.at(-1)!.token });
    expect(w.expiresAt).toBe(clock.now() + 24 * HOUR);
    expect(clock.nextDue()).toBe(clock.now() + 16 * HOUR);
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'CNI kubeconfig written' })]);
    expect(JSON.stringify(lines)).not.toContain(api.issuedTokens.at(-1)!.token);
    await w.stop();
  });

  test('refreshes when a third of the lifetime is left, rewriting the file; the lifetime the server grants wins', async () => {
    const w = writer();
    await w.start();
    const first = tokenInFile();
    clock.advance(16 * HOUR - 1);
    await w.settled();
    expect(tokenRequests()).toHaveLength(1);
    clock.advance(1);
    await w.settled();
    expect(tokenRequests()).toHaveLength(2);
    const second = tokenInFile();
    expect(second).not.toBe(first);
    expect(second).toBe(api.issuedTokens.at(-1)!.token);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    // The server caps tokens at 1 h (--service-account-max-token-expiration): refresh after 40 min.
    api.setTokenLifetime(3600);
    clock.advance(16 * HOUR);
    await w.settled();
    expect(w.expiresAt).toBe(clock.now() + HOUR);
    expect(clock.nextDue()).toBe(clock.now() + 40 * 60_000);
    clock.advance(40 * 60_000);
    await w.settled();
    expect(tokenRequests()).toHaveLength(4);
    expect(tokenInFile()).toBe(api.issuedTokens.at(-1)!.token);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['calico-kubeconfig']);
    await w.stop();
  });

  test('a failed refresh keeps the last good file and retries with backoff until it succeeds', async () => {
    const w = writer();
    await w.start();
    const good = fs.readFileSync(file, 'utf8');
    api.failNext(2);
    clock.advance(16 * HOUR);
    await w.settled();
    expect(fs.readFileSync(file, 'utf8')).toBe(good);
    expect(w.failedAttempts).toBe(1);
    expect(clock.nextDue()).toBe(clock.now() + 2000);
    const warning = lines.at(-1)!;
    expect(warning).toMatchObject({ level: 'warn', msg: 'CNI kubeconfig refresh failed; the file keeps the previous token', fields: { attempt: 1, retryInSeconds: 2 } });
    expect(String(warning.fields.error)).toMatch(/^kubernetes: POST \/api\/v1\/namespaces\/kube-system\/serviceaccounts\/calico-cni-plugin\/token: the server is currently unable to handle the request \(503 ServiceUnavailable\)$/);

    clock.advance(2000);
    await w.settled();
    expect(fs.readFileSync(file, 'utf8')).toBe(good);
    expect(clock.nextDue()).toBe(clock.now() + 4000);
    clock.advance(4000);
    await w.settled();
    expect(w.failedAttempts).toBe(0);
    expect(tokenInFile()).toBe(api.issuedTokens.at(-1)!.token);
    expect(fs.readFileSync(file, 'utf8')).not.toBe(good);
    expect(clock.nextDue()).toBe(clock.now() + 16 * HOUR);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['calico-kubeconfig']);
    await w.stop();
  });

  test('start waits (retrying) until the first file is written; an unknown ServiceAccount is a one-line warning per attempt', async () => {
    const w = writer({ serviceAccount: 'nope' });
    let started = false;
    const starting = w.start().then(() => {
      started = true;
    });
    await w.settled();
    await Promise.resolve();
    expect(started).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
    expect(lines.at(-1)).toMatchObject({ level: 'warn', msg: 'CNI kubeconfig not written yet' });
    expect(String(lines.at(-1)!.fields.error)).toBe('kubernetes: POST /api/v1/namespaces/kube-system/serviceaccounts/nope/token: serviceaccounts "nope" not found (404 NotFound)');

    api.upsert('serviceaccounts', { metadata: { name: 'nope' } }, 'kube-system');
    clock.advance(2000);
    await w.settled();
    await starting;
    expect(started).toBe(true);
    expect(kubeconfigConnection(file).token).toBe(api.issuedTokens.at(-1)!.token);
    await w.stop();
    api.remove('serviceaccounts', 'nope', 'kube-system');
  });

  test('stop: no timer left, nothing minted or written afterwards, the file stays; stop before the first write releases start', async () => {
    const w = writer();
    await w.start();
    const content = fs.readFileSync(file, 'utf8');
    await w.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(48 * HOUR);
    await w.settled();
    expect(tokenRequests()).toHaveLength(1);
    expect(fs.readFileSync(file, 'utf8')).toBe(content);

    api.failNext(1);
    const other = writer({ path: path.join(dir, 'other') });
    const starting = other.start();
    await other.settled();
    await other.stop();
    await starting;
    expect(clock.pending()).toBe(0);
    expect(fs.existsSync(path.join(dir, 'other'))).toBe(false);
  });

  test('an out-of-range lifetime is refused at construction with one line', () => {
    expect(() => writer({ expirationSeconds: 60 })).toThrow(/^expirationSeconds: 60 is not valid; expected an integer from 600 to 4294967296/);
  });
});

describe('the agent writes the CNI kubeconfig during start-up (memory kernel, API server double)', () => {
  test('not ready until the file is written; stop stops the refresher and keeps the file', async () => {
    const clock = new ManualClock();
    const api = await startFakeKubeApi({ now: () => clock.now() });
    const kube = new KubeClient({ server: api.url });
    const store = new KubeCrdStore({ client: kube, retryDelayMs: 50 });
    const dir = tempDir();
    const file = path.join(dir, 'net.d', 'calico-kubeconfig');
    for (const [plural, kind] of Object.entries(CALICO_KINDS)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind });
    api.upsert('nodes', { metadata: { name: 'node-k' } });
    const net = new MemoryNetwork();
    net.root.addLink({ name: 'eth0', kind: 'veth', mtu: 1500, up: true });
    net.root.addresses.set('eth0|10.60.0.2/24', { dev: 'eth0', cidr: '10.60.0.2/24' });

    // The plugin's ServiceAccount does not exist yet: the first mint fails and start-up waits.
    let waiting: () => void = () => undefined;
    const firstFailure = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const quiet = () => undefined;
    const log: Logger = { debug: quiet, info: quiet, error: quiet, warn: (msg) => msg === 'CNI kubeconfig not written yet' && waiting() };
    const writer = new CniKubeconfigWriter({ client: kube, serviceAccount: 'calico-cni-plugin', namespace: 'kube-system', path: file, server: SERVER, ca: CA, clock, log });
    const agent = new CalicoAgent({
      node: 'node-k', store, registry: new KubeNodeRegistry(kube, store), log, stateDir: path.join(dir, 'state'), health: { port: 0, host: '127.0.0.1' },
      kernel: net.kernel(CALICO_AGENT_OWNERSHIP), resyncSeconds: 60, cniKubeconfig: writer,
    });
    const starting = agent.start();
    try {
      await firstFailure;
      const readiness = await fetch(`http://127.0.0.1:${agent.healthPort}/readiness`);
      expect(readiness.status).toBe(503);
      expect(await readiness.text()).toContain('CNI kubeconfig');
      expect(fs.existsSync(file)).toBe(false);

      api.upsert('serviceaccounts', { metadata: { name: 'calico-cni-plugin' } }, 'kube-system');
      clock.advance(2000);
      await starting;
      expect((await fetch(`http://127.0.0.1:${agent.healthPort}/readiness`)).status).toBe(200);
      expect(kubeconfigConnection(file)).toMatchObject({ server: SERVER, ca: CA, token: api.issuedTokens[0].token });
      expect(clock.pending()).toBe(1);
    } finally {
      await starting.catch(() => undefined);
      await agent.stop();
      await store.close();
      kube.close();
      await api.close();
    }
    expect(clock.pending()).toBe(0);
    expect(fs.existsSync(file)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
