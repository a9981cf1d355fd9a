import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { connectionFromKubeconfig } from '../../../lib/dataplane/flannel/agent-kubeconfig';

describe('connectionFromKubeconfig', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-kubeconfig-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('reads the current context: server, inline CA, token; relative files against the kubeconfig', () => {
    write('token', 'abc');
    const file = write('config', [
      'apiVersion: v1', 'kind: Config', 'current-context: b',
      'contexts:', '- name: a', '  context: {cluster: x, user: u}', '- name: b', '  context: {cluster: y, user: v}',
      'clusters:', '- name: x', '  cluster: {server: "https://x:6443"}',
      `- name: y`, `  cluster: {server: "https://y:6443", certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}}`,
      'users:', '- name: v', '  user: {tokenFile: token}',
    ].join('\n'));
    expect(connectionFromKubeconfig(file)).toMatchObject({ server: 'https://y:6443', ca: 'CA PEM', tokenFile: path.join(dir, 'token'), insecureSkipTlsVerify: false });
  });

  it('explains what is wrong in one line', () => {
    expect(() => connectionFromKubeconfig(path.join(dir, 'missing'))).toThrow(/^--kubeconfig-file: ".*missing" is not valid; expected a readable kubeconfig/);
    const noContext = write('nocontext', 'current-context: z\ncontexts: []\n');
    expect(() => connectionFromKubeconfig(noContext)).toThrow('expected a kubeconfig whose current-context (z) names a context');
    const exec = write('exec', 'current-context: a\ncontexts: [{name: a, context: {cluster: x, user: u}}]\nclusters: [{name: x, cluster: {server: "https://x"}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n');
    expect(() => connectionFromKubeconfig(exec)).toThrow(/exec and auth-provider plugins are not supported/);
  });
});
