import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSubnetEnv, parseSubnetEnv, readSubnetEnv, writeSubnetEnv } from '../../../lib/dataplane/flannel/subnet-env';
import { Cidr } from '../../../lib/model/cidr';

const v4 = { network: Cidr.parse('10.244.0.0/16', 'n'), subnet: Cidr.parse('10.244.1.0/24', 's'), mtu: 1450, ipMasq: true };

describe('subnet.env', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cnikit-subnet-env-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('flannel\'s format: keys in order, FLANNEL_SUBNET is the gateway address with the subnet length', () => {
    expect(formatSubnetEnv(v4)).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    expect(formatSubnetEnv({
      ...v4, ipMasq: false, ipv6Network: Cidr.parse('fd00:10:244::/56', 'n'), ipv6Subnet: Cidr.parse('fd00:10:244:1::/64', 's'),
    })).toBe([
      'FLANNEL_NETWORK=10.244.0.0/16', 'FLANNEL_SUBNET=10.244.1.1/24',
      'FLANNEL_IPV6_NETWORK=fd00:10:244::/56', 'FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64',
      'FLANNEL_MTU=1450', 'FLANNEL_IPMASQ=false', '',
    ].join('\n'));
  });

  test('write then read gives back the same subnets, MTU and masquerade flag', async () => {
    const file = path.join(dir, 'run', 'flannel', 'subnet.env');
    const env = { ...v4, ipv6Network: Cidr.parse('fd00::/48', 'n'), ipv6Subnet: Cidr.parse('fd00:0:0:5::/64', 's') };
    await writeSubnetEnv(file, env);
    const back = await readSubnetEnv(file);
    expect(back!.subnet!.toString()).toBe('10.244.1.0/24');
    expect(back!.network!.toString()).toBe('10.244.0.0/16');
    expect(back!.ipv6Subnet!.toString()).toBe('fd00:0:0:5::/64');
    expect(back!.mtu).toBe(1450);
    expect(back!.ipMasq).toBe(true);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o644);
  });

  test('an atomic rewrite leaves exactly the new file and no temporary files', async () => {
    const file = path.join(dir, 'subnet.env');
    await writeSubnetEnv(file, v4);
    await writeSubnetEnv(file, { ...v4, subnet: Cidr.parse('10.244.7.0/24', 's'), mtu: 1500 });
    expect(await fs.readdir(dir)).toEqual(['subnet.env']);
    expect((await readSubnetEnv(file))!.subnet!.toString()).toBe('10.244.7.0/24');
  });

  test('a missing file reads as undefined; partial files read what they have', async () => {
    expect(await readSubnetEnv(path.join(dir, 'absent.env'))).toBeUndefined();
    expect(parseSubnetEnv('# written by hand\nFLANNEL_SUBNET="10.244.3.1/24"\n\n')).toEqual({ subnet: Cidr.parse('10.244.3.0/24', 's') });
  });

  test('bad values are one-line errors naming the key', () => {
    expect(() => parseSubnetEnv('FLANNEL_MTU=big')).toThrow('subnet.env FLANNEL_MTU: "big" is not valid; expected an integer MTU such as 1450');
    expect(() => parseSubnetEnv('FLANNEL_IPMASQ=yes')).toThrow('subnet.env FLANNEL_IPMASQ');
    expect(() => parseSubnetEnv('FLANNEL_SUBNET=10.244.1.1')).toThrow('subnet.env FLANNEL_SUBNET');
    expect(() => parseSubnetEnv('garbage')).toThrow('expected KEY=value lines');
    expect(() => formatSubnetEnv({ ...v4, mtu: 10 })).toThrow('FLANNEL_MTU');
  });
});
