import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeApiError, KubeClient, inClusterConnection, kubeconfigConnection } from '../../../lib/dataplane/datastore/kube/client';
import { nodesApi } from '../../../lib/dataplane/datastore/kube/resource';
import { startFakeKubeApi } from '../../support/fake-kube-api';

describe('KubeClient', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-kube-client-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('API errors carry the server\'s Status: code, reason and message', async () => {
    const api = await startFakeKubeApi();
    const client = new KubeClient({ server: api.url });
    try {
      const nodes = nodesApi(client);
      expect(await nodes.get('absent')).toBeUndefined();
      const error = await nodes.patch('absent', { metadata: { labels: { a: 'b' } } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubeApiError);
      expect(error).toMatchObject({ code: 404, reason: 'NotFound', message: 'kubernetes: PATCH /api/v1/nodes/absent: nodes "absent" not found (404 NotFound)' });
      api.upsert('nodes', { metadata: { name: 'n1' } });
      await expect(nodes.patch('n1', [{ op: 'add', path: '/x', value: 1 }], { type: 'json' })).rejects.toMatchObject({ code: 415, reason: 'UnsupportedMediaType' });
    } finally {
      client.close();
      await api.close();
    }
  });

  test('an unreachable server is a KubeApiError with code 0 naming the request', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const client = new KubeClient({ server: `http://127.0.0.1:${port}` });
    await expect(nodesApi(client).list()).rejects.toMatchObject({ code: 0, reason: 'Unreachable', message: expect.stringContaining('GET /api/v1/nodes') });
    client.close();
  });

  test('a server that never answers fails the request after requestTimeoutMs', async () => {
    const server = http.createServer(() => undefined); // accepts, never responds
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new KubeClient({ server: `http://127.0.0.1:${port}`, requestTimeoutMs: 200 });
    try {
      await expect(nodesApi(client).get('n1')).rejects.toMatchObject({ code: 0, message: expect.stringContaining('no answer in time') });
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('HTTPS with a CA bundle and a bearer token re-read from its file (rotated service-account tokens), for lists and watches', async () => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const seen: string[] = [];
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.includes('watch=1')) {
        res.end(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'n1', resourceVersion: '8' } } })}\n`);
        return;
      }
      res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fs.writeFileSync(path.join(dir, 'token'), 'first\n');
    fs.copyFileSync(cert, path.join(dir, 'ca.crt'));
    const connection = inClusterConnection({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) }, dir);
    const client = new KubeClient(connection);
    try {
      expect((await nodesApi(client).list()).metadata.resourceVersion).toBe('7');
      fs.writeFileSync(path.join(dir, 'token'), 'second\n');
      await nodesApi(client).list();
      expect(seen).toEqual(['Bearer first', 'Bearer second']);
      // A watch verifies the server with the same CA (it once opened its connection without it).
      const watched = await new Promise<{ names: string[]; error?: Error }>((resolve) => {
        const names: string[] = [];
        client.watch('/api/v1/nodes', { resourceVersion: '7' }, (event) => names.push((event.object.metadata as { name?: string } | undefined)?.name ?? ''), (error) => resolve({ names, error }));
      });
      expect(watched).toEqual({ names: ['n1'], error: undefined });
      expect(seen[2]).toBe('Bearer second');
      // Without the CA the server certificate is refused.
      const untrusted = new KubeClient({ server: `https://127.0.0.1:${port}` });
      await expect(nodesApi(untrusted).list()).rejects.toMatchObject({ code: 0, reason: 'Unreachable' });
      untrusted.close();
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('inClusterConnection needs the service environment variables; IPv6 hosts are bracketed', () => {
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA');
    expect(() => inClusterConnection({}, dir)).toThrow(/KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
    expect(inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir))
      .toEqual({ server: 'https://[fd00::1]:443', tokenFile: path.join(dir, 'token'), ca: 'CA', caFile: path.join(dir, 'ca.crt') });
    fs.rmSync(path.join(dir, 'ca.crt'));
    expect(() => inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir)).toThrow(/ca\.crt/);
  });

  test('a token file that cannot be read fails the request or ends the watch (never a throw); once read, its last token is kept', async () => {
    const api = await startFakeKubeApi();
    const tokenFile = path.join(dir, 'token');
    const client = new KubeClient({ server: api.url, tokenFile });
    try {
      await expect(nodesApi(client).list()).rejects.toMatchObject({ code: 0, reason: 'Credentials', message: expect.stringContaining(`token file ${tokenFile} cannot be read (ENOENT)`) });
      let returned = false;
      const ended = await new Promise<Error | undefined>((resolve) => {
        client.watch('/api/v1/nodes', {}, () => undefined, (error) => resolve(returned ? error : new Error('onEnd ran before watch returned')));
        returned = true;
      });
      expect(ended).toMatchObject({ code: 0, reason: 'Credentials', message: expect.stringContaining('WATCH /api/v1/nodes: token file') });
      expect(api.requests).toEqual([]);

      fs.writeFileSync(tokenFile, 'first\n');
      await nodesApi(client).list();
      fs.writeFileSync(tokenFile, ''); // being rewritten
      await nodesApi(client).list();
      fs.rmSync(tokenFile); // between two versions
      await nodesApi(client).list();
      expect(api.requests.map((r) => r.authorization)).toEqual(['Bearer first', 'Bearer first', 'Bearer first']);
    } finally {
      client.close();
      await api.close();
    }
  });

  test('kubeconfigConnection reads the current (or a named) context: server, CA data, token, client certificate files', () => {
    fs.writeFileSync(path.join(dir, 'client.crt'), 'CERT');
    fs.writeFileSync(path.join(dir, 'client.key'), 'KEY');
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: admin',
      'clusters:',
      '- name: lab', '  cluster:', '    server: https://127.0.0.1:6443', `    certificate-authority-data: ${Buffer.from('CA').toString('base64')}`,
      '- name: lab-file', '  cluster:', '    server: https://127.0.0.1:6443', '    certificate-authority: ca.crt',
      'contexts:',
      '- name: admin', '  context: {cluster: lab, user: admin}',
      '- name: agent', '  context: {cluster: lab, user: agent}',
      '- name: sso', '  context: {cluster: lab, user: sso}',
      '- name: file-ca', '  context: {cluster: lab-file, user: agent}',
      'users:',
      '- name: admin', '  user: {client-certificate: client.crt, client-key: client.key}',
      '- name: agent', '  user: {token: abc}',
      '- name: sso', '  user: {exec: {command: kubelogin}}',
    ].join('\n'));
    expect(kubeconfigConnection(file)).toMatchObject({ server: 'https://127.0.0.1:6443', ca: 'CA', caFile: undefined, cert: 'CERT', key: 'KEY', insecureSkipTlsVerify: false });
    fs.writeFileSync(path.join(dir, 'ca.crt'), 'FILE-CA');
    expect(kubeconfigConnection(file, 'file-ca')).toMatchObject({ ca: 'FILE-CA', caFile: path.join(dir, 'ca.crt') });
    expect(kubeconfigConnection(file, 'agent')).toMatchObject({ token: 'abc', cert: undefined });
    expect(() => kubeconfigConnection(file, 'sso')).toThrow(/exec or auth-provider plugin/);
    expect(() => kubeconfigConnection(file, 'nope')).toThrow(`kubeconfig ${file}: context "nope" not found`);
  });
});
