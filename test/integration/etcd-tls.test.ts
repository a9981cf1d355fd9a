import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EtcdStore } from '../../lib/dataplane/datastore/etcd';
import { EtcdServer, startEtcd } from '../support/etcd';

/** flannel's --etcd-cafile/--etcd-certfile/--etcd-keyfile: etcd with client-certificate authentication. */
describe('EtcdStore over TLS with client certificates', () => {
  let dir: string;
  let etcd: EtcdServer;
  const file = (name: string) => path.join(dir, name);
  const read = (name: string) => fs.readFileSync(file(name));

  function issue(name: string, cn: string, extensions: string): void {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
    fs.writeFileSync(file(`${name}.ext`), extensions);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '1', '-extfile', file(`${name}.ext`));
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-etcd-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=cnikit-test-ca'], { stdio: 'ignore' });
    issue('server', 'etcd', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    issue('client', 'flannel', 'extendedKeyUsage=clientAuth\n');
    etcd = await startEtcd({
      tls: {
        certFile: file('server.crt'), keyFile: file('server.key'), clientCaFile: file('ca.crt'),
        healthCa: read('ca.crt').toString(), healthCert: read('client.crt').toString(), healthKey: read('client.key').toString(),
      },
    });
  });

  afterAll(async () => {
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('with the CA and a client certificate, reads and writes work', async () => {
    expect(etcd.endpoint).toMatch(/^https:/);
    const store = EtcdStore.connect({ endpoints: [etcd.endpoint], tls: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') } });
    try {
      await store.create('/tls/k', 'v');
      expect((await store.get('/tls/k'))?.value).toBe('v');
    } finally {
      await store.close();
    }
  });

  test('without a client certificate the server refuses the connection', async () => {
    const store = EtcdStore.connect({ endpoints: [etcd.endpoint], tls: { ca: read('ca.crt') }, callTimeoutMs: 2000 });
    try {
      await expect(store.get('/tls/k')).rejects.toThrow();
    } finally {
      await store.close();
    }
  });
});
