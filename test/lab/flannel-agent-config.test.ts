import { Lab } from '../../lib/lab';
import { describeLab } from './flannel-suite';

// Bad configuration reaching the real agent executable: it exits 1 with one line naming the field.
describeLab('lab: the agent executable on bad configuration', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 1, startAgents: false });
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  const startFails = async (extraArgs: string[] = []): Promise<string> => {
    const error = await lab.startAgent(lab.nodes[0], extraArgs).then(() => undefined, (e: Error) => e);
    expect(error).toBeDefined();
    const lines = lab.agent(lab.nodes[0])!.output().filter((l) => l.startsWith('flannel-agent: '));
    expect(lines).toHaveLength(1);
    await lab.stopAgent(lab.nodes[0]);
    return lines[0];
  };

  it('names a bad flag value', async () => {
    expect(await startFails(['--healthz-port=http'])).toBe('flannel-agent: --healthz-port: "http" is not valid; expected an integer from 0 to 65535');
  });

  it('names the bad field of the network config in etcd', async () => {
    await lab.etcd.put(`${lab.etcdPrefix}/config`).value('{"Network":"10.244.0.0/33","Backend":{"Type":"vxlan"}}');
    expect(await startFails()).toMatch(/^flannel-agent: .*Network: "10\.244\.0\.0\/33" is not valid; expected an IPv4 CIDR/);
  });

  it('names an unsupported backend', async () => {
    await lab.etcd.put(`${lab.etcdPrefix}/config`).value('{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}');
    expect(await startFails()).toMatch(/^flannel-agent: .*Backend\.Type: "udp" is not valid; expected one of vxlan, host-gw/);
  });

  it('starts once the config is fixed', async () => {
    await lab.etcd.put(`${lab.etcdPrefix}/config`).value('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    await lab.startAgent(lab.nodes[0]);
    expect(lab.subnetOf(lab.nodes[0])).toMatch(/^10\.244\.\d+\.0\/24$/);
  });
});
