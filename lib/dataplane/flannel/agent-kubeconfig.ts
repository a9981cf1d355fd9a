import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { ValidationError } from '../../model/errors';
import { KubeConnection } from '../datastore/kube/client';

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user?: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string } }>;
}

/**
 * The connection of a kubeconfig's current context (flanneld's --kubeconfig-file): server, CA,
 * bearer token or token file, client certificate. Exec/auth-provider plugins are not supported
 * and say so. Relative file references resolve against the kubeconfig's directory, as kubectl does.
 */
export function connectionFromKubeconfig(file: string): KubeConnection {
  const field = '--kubeconfig-file';
  let doc: KubeconfigFile;
  try {
    doc = parse(fs.readFileSync(file, 'utf8')) as KubeconfigFile;
  } catch (error) {
    throw new ValidationError(field, file, `a readable kubeconfig (${(error as Error).message.split('\n')[0]})`);
  }
  const contextName = doc?.['current-context'];
  const context = doc?.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new ValidationError(field, file, `a kubeconfig whose current-context (${contextName ?? 'unset'}) names a context`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new ValidationError(field, file, `a cluster "${context.cluster}" with a server URL`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if ('exec' in user || 'auth-provider' in user) throw new ValidationError(field, file, 'a token or client-certificate user (exec and auth-provider plugins are not supported)');
  const dir = path.dirname(file);
  const read = (ref?: string) => (ref ? fs.readFileSync(path.resolve(dir, ref), 'utf8') : undefined);
  const decode = (data?: string) => (data ? Buffer.from(data, 'base64').toString('utf8') : undefined);
  return {
    server: cluster.server,
    ca: decode(cluster['certificate-authority-data']) ?? read(cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] ?? false,
    token: user.token,
    tokenFile: user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined,
    cert: decode(user['client-certificate-data']) ?? read(user['client-certificate']),
    key: decode(user['client-key-data']) ?? read(user['client-key']),
  };
}
