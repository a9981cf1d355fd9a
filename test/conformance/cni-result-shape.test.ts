import { cniResultProblems, sandboxAddresses } from '../../lib/lab/conformance/cni-result-shape';
import { cnitoolContainerId } from '../../lib/lab/conformance/cnitool';

const sandbox = '/var/run/netns/pod';
const good = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: '0a:58:0a:fa:07:01' }, { name: 'cnik0123456789a', mac: 'ca:98:59:4b:1f:06' }, { name: 'eth0', mac: '06:63:b6:1f:f4:00', sandbox }],
  ips: [{ address: '10.250.7.2/24', gateway: '10.250.7.1', interface: 2 }, { address: 'fd00::2/64', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.250.7.1' }, { dst: '10.250.0.0/16' }],
  dns: {},
};

describe('cniResultProblems (SPEC.md "ADD Success", 1.0.0 and later)', () => {
  it('finds nothing wrong with a well-formed result and reads the sandbox addresses', () => {
    expect(cniResultProblems(good, { cniVersion: '1.0.0', sandbox })).toEqual([]);
    expect(sandboxAddresses(good, sandbox)).toEqual(['10.250.7.2', 'fd00::2']);
  });

  it.each([
    ['another cniVersion', { ...good, cniVersion: '0.4.0' }, /^cniVersion: "0.4.0", expected "1.0.0"/],
    ['an ip on an interface outside the sandbox', { ...good, ips: [{ address: '10.250.7.2/24', interface: 0 }] }, /ips\[0\]\.interface: 0 is "cni0", which is not in sandbox/],
    ['an interface index out of range', { ...good, ips: [{ address: '10.250.7.2/24', interface: 3 }] }, /ips\[0\]\.interface: 3, expected an index into interfaces \(0-2\)/],
    ['an address without prefix', { ...good, ips: [{ address: '10.250.7.2', interface: 2 }] }, /ips\[0\]\.address: "10.250.7.2", expected an address with prefix length/],
    ['a 0.x version field', { ...good, ips: [{ version: '4', address: '10.250.7.2/24', interface: 2 }] }, /ips\[0\]\.version: "4", a 0\.x field/],
    ['a route dst that is not a CIDR', { ...good, routes: [{ dst: 'default' }] }, /routes\[0\]\.dst: "default", expected a CIDR/],
    ['a bad MAC', { ...good, interfaces: [...good.interfaces.slice(0, 2), { name: 'eth0', mac: 'zz', sandbox }] }, /interfaces\[2\]\.mac: "zz", expected a MAC address/],
    ['no interface in the sandbox', { ...good, interfaces: good.interfaces.slice(0, 2), ips: [] }, /interfaces: none has sandbox "\/var\/run\/netns\/pod"/],
    ['no ips', { ...good, ips: [] }, /ips: empty/],
    ['interfaces that are not a list', { ...good, interfaces: {} }, /interfaces: \{\}, expected a list/],
  ])('names %s', (_what, result, problem) => {
    expect(cniResultProblems(result, { cniVersion: '1.0.0', sandbox })).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });

  it('refuses what is not an object', () => {
    expect(cniResultProblems(undefined, { cniVersion: '1.0.0', sandbox })).toEqual(['result: undefined is not a JSON object']);
  });
});

describe('cnitoolContainerId', () => {
  it('is cnitool- and 10 bytes of the SHA-512 of the absolute namespace path', () => {
    // printf /var/run/netns/x | sha512sum: 4acf487154af9777be71…
    expect(cnitoolContainerId('/var/run/netns/x')).toBe('cnitool-4acf487154af9777be71');
    expect(cnitoolContainerId('/var/run/netns/../netns/x')).toBe('cnitool-4acf487154af9777be71');
  });
});
