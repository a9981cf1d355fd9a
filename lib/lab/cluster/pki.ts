import * as fs from 'fs';
import * as path from 'path';
import { run } from '../exec';

/** A key pair and certificate on disk, PEM. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface CertRequest {
  /** File name stem under the PKI directory. */
  readonly name: string;
  readonly commonName: string;
  /** Subject organizations: Kubernetes reads them as groups (`system:masters`, `system:nodes`). */
  readonly organizations?: readonly string[];
  /** Subject alternative names; a value with only digits, dots or colons is an IP. */
  readonly altNames?: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
}

/**
 * The cluster's certificates, made with openssl the way kubeadm lays them out: one CA for the API
 * (apiserver serving cert, every client cert, kubelet client), one front-proxy CA for the aggregation
 * layer, and the service-account signing key. EC P-256 keys: quick to make, accepted everywhere.
 */
export class ClusterPki {
  public readonly ca: CertFiles;
  public readonly frontProxyCa: CertFiles;
  public readonly serviceAccountKey: string;
  public readonly serviceAccountPublicKey: string;

  private constructor(public readonly dir: string) {
    this.ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
    this.frontProxyCa = { cert: path.join(dir, 'front-proxy-ca.crt'), key: path.join(dir, 'front-proxy-ca.key') };
    this.serviceAccountKey = path.join(dir, 'sa.key');
    this.serviceAccountPublicKey = path.join(dir, 'sa.pub');
  }

  public static async create(dir: string): Promise<ClusterPki> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pki = new ClusterPki(dir);
    await pki.selfSigned(pki.ca, 'kubernetes-ca');
    await pki.selfSigned(pki.frontProxyCa, 'front-proxy-ca');
    await pki.newKey(pki.serviceAccountKey);
    await run(['openssl', 'pkey', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPublicKey]);
    return pki;
  }

  /** Issues a certificate signed by `issuer` (the cluster CA unless given). */
  public async issue(request: CertRequest, issuer: CertFiles = this.ca): Promise<CertFiles> {
    const files = { cert: path.join(this.dir, `${request.name}.crt`), key: path.join(this.dir, `${request.name}.key`) };
    await this.newKey(files.key);
    const subject = [...(request.organizations ?? []).map((o) => `/O=${o}`), `/CN=${request.commonName}`].join('');
    const csr = `${files.cert}.csr`;
    await run(['openssl', 'req', '-new', '-key', files.key, '-subj', subject, '-out', csr]);
    const extensions = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${{ server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[request.usage]}`,
    ];
    if (request.altNames && request.altNames.length > 0) {
      extensions.push(`subjectAltName=${request.altNames.map((n) => (/^[0-9a-fA-F.:]+$/.test(n) && /[.:]/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`);
    }
    const extFile = `${files.cert}.ext`;
    fs.writeFileSync(extFile, `${extensions.join('\n')}\n`);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', extFile, '-out', files.cert]);
    fs.rmSync(csr);
    fs.rmSync(extFile);
    return files;
  }

  private async newKey(file: string): Promise<void> {
    await run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
    fs.chmodSync(file, 0o600);
  }

  private async selfSigned(files: CertFiles, commonName: string): Promise<void> {
    await this.newKey(files.key);
    await run(['openssl', 'req', '-x509', '-new', '-key', files.key, '-subj', `/CN=${commonName}`, '-days', '30', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', files.cert]);
  }
}

/** A kubeconfig for `user` (a client certificate) against `server`, trusting the cluster CA. */
export function kubeconfig(server: string, caFile: string, user: string, client: CertFiles): string {
  const b64 = (file: string) => fs.readFileSync(file).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: lab',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caFile)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(client.cert)}`,
    `    client-key-data: ${b64(client.key)}`,
    'contexts:',
    '- name: lab',
    '  context:',
    '    cluster: lab',
    `    user: ${user}`,
    'current-context: lab',
    '',
  ].join('\n');
}
