import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A key and certificate: their files and their PEM text. */
export interface TestCert {
  readonly keyFile: string;
  readonly certFile: string;
  readonly key: string;
  readonly cert: string;
}

export interface TestCertRequest {
  /** File name stem under the CA's directory. */
  readonly name: string;
  readonly commonName: string;
  /** Subject organizations (Kubernetes groups, e.g. `system:nodes`). @default none */
  readonly organizations?: readonly string[];
  /** `server` certificates name IP 127.0.0.1. */
  readonly usage: 'server' | 'client';
}

/**
 * A private CA made with openssl (EC P-256, valid one day) that issues server and client
 * certificates, for tests of TLS clients against servers on 127.0.0.1.
 */
export class TestCa {
  private constructor(
    private readonly dir: string,
    public readonly ca: TestCert,
  ) {}

  /** A new self-signed CA in `dir` (created if needed). */
  public static create(dir: string, commonName: string): TestCa {
    fs.mkdirSync(dir, { recursive: true });
    const keyFile = path.join(dir, 'ca.key');
    const certFile = path.join(dir, 'ca.crt');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '1', '-subj', `/CN=${commonName}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
    return new TestCa(dir, read(keyFile, certFile));
  }

  public issue(request: TestCertRequest): TestCert {
    const keyFile = path.join(this.dir, `${request.name}.key`);
    const certFile = path.join(this.dir, `${request.name}.crt`);
    const csr = path.join(this.dir, `${request.name}.csr`);
    const ext = path.join(this.dir, `${request.name}.ext`);
    const subject = [...(request.organizations ?? []).map((o) => `/O=${o}`), `/CN=${request.commonName}`].join('');
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', subject);
    fs.writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      request.usage === 'server' ? 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1' : 'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'));
    openssl('x509', '-req', '-in', csr, '-CA', this.ca.certFile, '-CAkey', this.ca.keyFile, '-CAcreateserial', '-days', '1', '-sha256', '-extfile', ext, '-out', certFile);
    fs.rmSync(csr);
    fs.rmSync(ext);
    return read(keyFile, certFile);
  }
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function read(keyFile: string, certFile: string): TestCert {
  return { keyFile, certFile, key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
}
