import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const APP = path.join(__dirname, '..', '..', 'apps', 'policy-agent.ts');
const run = (args: string[]) => spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', APP, ...args], { encoding: 'utf8', timeout: 30_000 });

/** The executable refuses bad flags with one line naming the flag, before touching anything. */
describe('apps/policy-agent.ts', () => {
  it.each([
    [['--node-name', 'n1'], 'policy-agent: --etcd-endpoints: (unset) is not valid; expected comma-separated etcd URLs'],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--mode', 'bridge'], 'policy-agent: --mode: "bridge" is not valid; expected interface (cali* veths) or address (bridged pods)'],
    [['--datastore', 'consul'], 'policy-agent: --datastore: "consul" is not valid; expected etcdv3 or kubernetes'],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--backend', 'ebpf'], 'policy-agent: --backend: "ebpf" is not valid; expected auto, nft or iptables'],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--resync-seconds', '0'], 'policy-agent: --resync-seconds: "0" is not valid; expected a whole number of seconds, at least 1'],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--metrics-port', '0'], 'policy-agent: --metrics-port: "0" is not valid; expected a port number from 1 to 65535'],
  ])('%j', (args, message) => {
    const r = run(args);
    expect({ code: r.status, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: message });
  });
});
