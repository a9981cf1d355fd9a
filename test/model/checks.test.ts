import { checkDnsLabel, checkDnsSubdomain, checkEnum, checkInteger, checkKnownKeys, checkPort } from '../../lib/model/checks';

test('shared checks return the value or throw one line naming field, value and expectation', () => {
  expect(checkInteger('f', 3, 1, 5)).toBe(3);
  expect(() => checkInteger('f', 3.5, 1, 5, 'seconds')).toThrow('f: 3.5 is not valid; expected an integer from 1 to 5 seconds');
  expect(() => checkPort('p', 0)).toThrow('p: 0 is not valid; expected an integer from 1 to 65535');
  expect(checkEnum('e', 'a', ['a', 'b'])).toBe('a');
  expect(() => checkEnum('e', 'c', ['a', 'b'])).toThrow('e: "c" is not valid; expected one of a, b');
  expect(checkDnsLabel('n', 'kube-flannel')).toBe('kube-flannel');
  expect(() => checkDnsLabel('n', 'Kube_Flannel')).toThrow('n: "Kube_Flannel" is not valid; expected a DNS-1123 label');
  expect(checkDnsSubdomain('s', 'etcd.client-tls')).toBe('etcd.client-tls');
  expect(() => checkDnsSubdomain('s', '-x')).toThrow('s: "-x" is not valid; expected a DNS-1123 subdomain');
  expect(() => checkKnownKeys('o', { a: 1, b: 2 }, ['a'], 'the thing')).toThrow('o.b: "b" is not valid; expected an option of the thing: a');
});
