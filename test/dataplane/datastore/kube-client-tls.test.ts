import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeClient, KubeConnection, WatchStream, inClusterConnection, inClusterNamespace, kubeconfigConnection } from '../../../lib/dataplane/datastore/kube/client';
import { KUBE_NODES_PREFIX, KUBE_NODES_VIEW } from '../../../lib/dataplane/datastore/kube/node-view';
import { KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { ResourceApi, nodesApi } from '../../../lib/dataplane/datastore/kube/resource';
import { KubeWatchEvent, Node } from '../../../lib/dataplane/datastore/kube/types';
import { WatchEvent } from '../../../lib/dataplane/datastore/types';
import { WatchCache, storeFeed } from '../../../lib/dataplane/datastore/watch-cache';
import { FakeKubeApi, FakeKubeApiOptions, RecordedRequest, RequestCredentials, startFakeKubeApi } from '../../support/fake-kube-api';
import { TestCa, TestCert } from '../../support/test-pki';

/**
 * The Kubernetes client against an HTTPS API server with a private CA, as in a real cluster: the
 * in-cluster configuration (service environment + the kubelet's projected service-account volume),
 * rotated tokens and CA bundles, client-certificate authentication, and the watch cache's relist on 410
 * (the dataplane's one list + watch: `KubeCrdStore` followed by a `WatchCache`).
 * Each test asserts what the server saw (credentials per request, request sequence).
 */
describe('KubeClient over TLS with a private CA', () => {
  let dir: string;
  let ca: TestCa;
  let serving: TestCert;
  let nodeCert: TestCert;
  let api: FakeKubeApi | undefined;
  const clients: KubeClient[] = [];
  const caches: WatchCache[] = [];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-kube-tls-'));
    ca = TestCa.create(path.join(dir, 'pki'), 'kubernetes-ca');
    serving = ca.issue({ name: 'apiserver', commonName: 'kube-apiserver', usage: 'server' });
    nodeCert = ca.issue({ name: 'node', commonName: 'system:node:n1', organizations: ['system:nodes'], usage: 'client' });
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const cache of caches.splice(0)) await cache.stop();
    for (const client of clients.splice(0)) client.close();
    await api?.close();
    api = undefined;
  });

  async function startApi(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
    api = await startFakeKubeApi({ tls: { key: serving.key, cert: serving.cert }, ...options });
    return api;
  }

  function client(connection: KubeConnection): KubeClient {
    const c = new KubeClient(connection);
    clients.push(c);
    return c;
  }

  /** The nodes as an agent's watch cache holds them; every change it announces goes to `events`. */
  function nodeCache(c: KubeClient, events: Mailbox<WatchEvent>, errors: Mailbox<Error>): WatchCache {
    const cache = new WatchCache(storeFeed(new KubeCrdStore({ client: c, kinds: {}, views: [KUBE_NODES_VIEW], retryDelayMs: 10 }), 10), [KUBE_NODES_PREFIX], errors.push);
    cache.watch(KUBE_NODES_PREFIX, events.push);
    caches.push(cache);
    return cache;
  }

  function serviceEnv(server: FakeKubeApi): NodeJS.ProcessEnv {
    return { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(server.url).port };
  }

  const bearer = (token: string) => (credentials: RequestCredentials) => credentials.bearerToken === token;

  test('in-cluster config: list and watch are verified with the mounted CA and carry the mounted token', async () => {
    const server = await startApi({ authenticate: bearer('sa-token') });
    server.upsert('nodes', { metadata: { name: 'n1' } });
    const mount = new ServiceAccountMount(path.join(dir, 'sa-in-cluster'));
    mount.write({ token: 'sa-token\n', 'ca.crt': ca.ca.cert, namespace: 'kube-system' });

    const connection = inClusterConnection(serviceEnv(server), mount.dir);
    expect(connection.server).toBe(server.url);
    expect(inClusterNamespace(mount.dir)).toBe('kube-system');
    const nodes = nodesApi(client(connection));

    const list = await nodes.list();
    expect(list.items.map((n) => n.metadata.name)).toEqual(['n1']);
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', path: '/api/v1/nodes', authorization: 'Bearer sa-token' });

    const watch = openWatch(server, nodes, list.metadata.resourceVersion);
    try {
      expect(await within(watch.opened, 'the watch to open')).toMatchObject({ query: { watch: '1', resourceVersion: list.metadata.resourceVersion }, authorization: 'Bearer sa-token' });
      server.upsert('nodes', { metadata: { name: 'n2' } });
      expect(await within(watch.events.next(), 'the ADDED event')).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'n2' } } });
    } finally {
      watch.stream.abort();
    }

    // Without the CA the server is not trusted, and nothing reaches it.
    const seen = server.requests.length;
    await expect(nodesApi(client({ server: server.url, token: 'sa-token' })).list())
      .rejects.toMatchObject({ code: 0, reason: 'Unreachable', message: expect.stringMatching(/unable to verify the first certificate/) });
    expect(server.requests).toHaveLength(seen);
  });

  test('a rotated token file: the next request and the next watch carry the new token; the server refuses the old one', async () => {
    let valid = 'token-1';
    const server = await startApi({ authenticate: (credentials) => credentials.bearerToken === valid });
    server.upsert('nodes', { metadata: { name: 'n1' } });
    const mount = new ServiceAccountMount(path.join(dir, 'sa-token-rotation'));
    mount.write({ token: 'token-1', 'ca.crt': ca.ca.cert, namespace: 'kube-system' });
    const connection = inClusterConnection(serviceEnv(server), mount.dir);
    const c = client(connection);

    const events = new Mailbox<WatchEvent>();
    const errors = new Mailbox<Error>();
    const firstWatch = server.nextWatch();
    await within(nodeCache(c, events, errors).start(), 'the first list');
    expect(names(await events.next())).toEqual(['listed n1']);
    expect(await within(firstWatch, 'the first watch')).toMatchObject({ authorization: 'Bearer token-1' });

    // The kubelet swaps in a new token; the API server stops accepting the old one.
    valid = 'token-2';
    mount.write({ token: 'token-2', 'ca.crt': ca.ca.cert, namespace: 'kube-system' });
    await expect(nodesApi(client({ server: server.url, ca: ca.ca.cert, token: 'token-1' })).list()).rejects.toMatchObject({ code: 401, reason: 'Unauthorized' });

    await nodesApi(c).list();
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', query: {}, authorization: 'Bearer token-2' });

    // The open watch ends (as the server ends every watch after timeoutSeconds); the next one carries the new token.
    const secondWatch = server.nextWatch();
    server.dropWatches();
    expect(await within(Promise.race([secondWatch, errors.next().then((e) => Promise.reject(e))]), 'the second watch'))
      .toMatchObject({ authorization: 'Bearer token-2' });
    server.upsert('nodes', { metadata: { name: 'n2' } });
    expect(names(await within(events.next(), 'the cache to see n2'))).toEqual(['put n2']);
    expect(server.requests.filter((r) => r.authorization !== 'Bearer token-1' && r.authorization !== 'Bearer token-2')).toEqual([]);
  });

  test('410 Gone when the watch resumes: the watch cache relists and reports only the difference', async () => {
    const server = await startApi({ authenticate: bearer('t') });
    for (const name of ['a', 'b', 'c']) server.upsert('nodes', { metadata: { name } });
    const c = client({ server: server.url, ca: ca.ca.cert, token: 't' });
    const events = new Mailbox<WatchEvent>();
    const errors = new Mailbox<Error>();
    const watching = server.nextWatch();
    const cache = nodeCache(c, events, errors);
    await within(cache.start(), 'the first list');
    expect(names(await events.next())).toEqual(['listed a', 'listed b', 'listed c']);
    const listed = (await within(watching, 'the first watch')).query.resourceVersion;

    // The stream breaks and the server answers 503 while objects change and etcd compacts away the history.
    server.failNext(Number.MAX_SAFE_INTEGER);
    const refused = errors.next();
    server.dropWatches();
    expect(await within(refused, 'a refused re-watch')).toMatchObject({ code: 503 });
    server.upsert('nodes', { metadata: { name: 'b', labels: { zone: 'z1' } } });
    server.remove('nodes', 'c');
    server.upsert('nodes', { metadata: { name: 'd' } });
    server.compact();

    const from = server.requests.length;
    const relisted = Promise.all([events.next(), events.next(), events.next()]);
    const rewatched = server.nextWatch();
    server.failNext(0);
    const diff = await within(relisted, 'the relist');
    expect(diff.flatMap(names)).toEqual(['deleted c', 'put b', 'put d']);
    expect(JSON.parse((diff[1] as { kv: { value: string } }).kv.value)).toMatchObject({ metadata: { name: 'b', labels: { zone: 'z1' } } });

    const resumed = await within(rewatched, 'the watch after the relist');
    // What the server saw: the resumed watch from the old version (410 in the stream), a list, a watch from the list's version.
    expect(server.requests.slice(from).map((r) => `${r.query.watch ? 'watch' : 'list'} ${r.query.resourceVersion ?? ''}`))
      .toEqual([`watch ${listed}`, 'list ', `watch ${resumed.query.resourceVersion}`]);
    expect(Number(resumed.query.resourceVersion)).toBeGreaterThan(Number(listed));

    server.upsert('nodes', { metadata: { name: 'e' } });
    expect(names(await within(events.next(), 'the cache to see e'))).toEqual(['put e']);
    expect(cache.list(KUBE_NODES_PREFIX).items.map((kv) => kv.key.slice(KUBE_NODES_PREFIX.length))).toEqual(['a', 'b', 'd', 'e']);
  });

  test('client certificate authentication: list and watch present the kubeconfig\'s certificate, verified against the CA', async () => {
    const server = await startApi({
      tls: { key: serving.key, cert: serving.cert, clientCa: ca.ca.cert },
      authenticate: (credentials) => credentials.clientCertificate?.commonName === 'system:node:n1',
    });
    const kubeconfig = path.join(path.dirname(ca.ca.certFile), 'node.kubeconfig');
    fs.writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: node',
      'clusters:', '- name: lab', '  cluster:', `    server: ${server.url}`, '    certificate-authority: ca.crt',
      'users:', '- name: node', `  user: {client-certificate: ${path.basename(nodeCert.certFile)}, client-key: ${path.basename(nodeCert.keyFile)}}`,
      'contexts:', '- name: node', '  context: {cluster: lab, user: node}', '',
    ].join('\n'));
    const nodes = nodesApi(client(kubeconfigConnection(kubeconfig)));

    const list = await nodes.list();
    const subject = { commonName: 'system:node:n1', organizations: ['system:nodes'] };
    expect(server.requests.at(-1)).toMatchObject({ path: '/api/v1/nodes', clientCertificate: subject });
    expect(server.requests.at(-1)?.authorization).toBeUndefined();

    const watch = openWatch(server, nodes, list.metadata.resourceVersion);
    try {
      expect(await within(watch.opened, 'the watch to open')).toMatchObject({ query: { watch: '1' }, clientCertificate: subject });
      server.upsert('nodes', { metadata: { name: 'n1' } });
      expect(await within(watch.events.next(), 'the ADDED event')).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'n1' } } });
    } finally {
      watch.stream.abort();
    }

    // No certificate, or one from another CA: not authenticated.
    const foreign = TestCa.create(path.join(dir, 'foreign'), 'foreign-ca').issue({ name: 'node', commonName: 'system:node:n1', usage: 'client' });
    for (const credentials of [{}, { cert: foreign.cert, key: foreign.key }]) {
      await expect(nodesApi(client({ server: server.url, ca: ca.ca.cert, ...credentials })).list()).rejects.toMatchObject({ code: 401, reason: 'Unauthorized' });
      expect(server.requests.at(-1)?.clientCertificate).toBeUndefined();
    }
  });

  test('a rotated CA bundle in the mounted ca.crt is trusted by the next request and the next watch', async () => {
    const server = await startApi({ authenticate: bearer('t') });
    const mount = new ServiceAccountMount(path.join(dir, 'sa-ca-rotation'));
    mount.write({ token: 't', 'ca.crt': ca.ca.cert, namespace: 'kube-system' });
    const connection = inClusterConnection(serviceEnv(server), mount.dir);
    const nodes = nodesApi(client(connection));
    await nodes.list();

    // The cluster CA is rotated: the API server serves a certificate from the new CA.
    const next = TestCa.create(path.join(dir, 'next-ca'), 'kubernetes-ca-2');
    server.setServingCertificate(next.issue({ name: 'apiserver', commonName: 'kube-apiserver', usage: 'server' }));
    // The bundle read at start no longer verifies the server…
    await expect(nodesApi(client({ server: server.url, ca: connection.ca, token: 't' })).list())
      .rejects.toMatchObject({ code: 0, message: expect.stringMatching(/unable to verify the first certificate/) });
    // …the kubelet updates the mounted bundle (old and new CA during the rotation), and the same client follows.
    const seen = server.requests.length;
    mount.write({ token: 't', 'ca.crt': `${ca.ca.cert}${next.ca.cert}`, namespace: 'kube-system' });
    const list = await nodes.list();
    expect(server.requests).toHaveLength(seen + 1);

    const watch = openWatch(server, nodes, list.metadata.resourceVersion);
    try {
      await within(watch.opened, 'the watch to open');
      server.upsert('nodes', { metadata: { name: 'n1' } });
      expect(await within(watch.events.next(), 'the ADDED event')).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'n1' } } });
    } finally {
      watch.stream.abort();
    }
  });

});

/**
 * The kubelet's projected service-account volume: `token`, `ca.crt` and `namespace` are symlinks into
 * `..data`, a symlink to a timestamped directory that each update replaces atomically (AtomicWriter).
 */
class ServiceAccountMount {
  private generation = 0;

  constructor(public readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  public write(files: Record<string, string>): void {
    const payload = `..${++this.generation}`;
    fs.mkdirSync(path.join(this.dir, payload));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(this.dir, payload, name), text);
    fs.symlinkSync(payload, path.join(this.dir, '..data_tmp'));
    fs.renameSync(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!fs.existsSync(path.join(this.dir, name))) fs.symlinkSync(path.join('..data', name), path.join(this.dir, name));
    }
  }
}

/** Values pushed by callbacks, taken in order by awaiting `next()`. */
class Mailbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  public readonly push = (item: T): void => {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  };

  public next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    return new Promise<T>((resolve) => this.waiters.push(resolve));
  }
}

/** Starts a watch; `opened` resolves with the request the server registered, or rejects when the stream ends first (e.g. 401). */
function openWatch(server: FakeKubeApi, nodes: ResourceApi<Node>, resourceVersion: string): { opened: Promise<RecordedRequest>; events: Mailbox<KubeWatchEvent<Node>>; stream: WatchStream } {
  const events = new Mailbox<KubeWatchEvent<Node>>();
  const registered = server.nextWatch();
  let ended!: (error?: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    ended = (error) => reject(error ?? new Error('the watch ended before the server registered it'));
  });
  failed.catch(() => undefined); // only observed while `opened` is pending
  const stream = nodes.watch(resourceVersion, events.push, (error) => ended(error));
  return { opened: Promise.race([registered, failed]), events, stream };
}

/** A cache event as `listed <node>` (each of the first snapshot's), `put <node>` or `deleted <node>`. */
function names(event: WatchEvent): string[] {
  const node = (key: string) => key.slice(KUBE_NODES_PREFIX.length);
  if (event.type === 'reset') return event.items.map((kv) => `listed ${node(kv.key)}`);
  return event.type === 'put' ? [`put ${node(event.kv.key)}`] : [`deleted ${node(event.key)}`];
}

/** Fails with a message naming what did not happen, instead of the test's overall timeout. */
async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
