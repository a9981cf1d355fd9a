import { connect } from 'node:net';
import { CniServer } from '../../lib/dataplane/cni/server';
import { PluginKernels } from '../../lib/dataplane/cni/plugin';

/** Sends `request` to the server and resolves with everything it answers, or 'closed without an answer'. */
function exchange(port: number, request: string, end = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => (end ? socket.end(request) : socket.write(request)));
    let answer = '';
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer || 'closed without an answer'));
  });
}

const field = (value: string | undefined) => `${value === undefined ? '' : `=${value}`}\0`;
const request = (type: string) => `token\0${field('ADD')}${field('c1')}${field('/proc/self/ns/net')}${field('eth0')}${field('')}${field('/opt/cni/bin')}${JSON.stringify({ type })}\0`;

/**
 * Table row "200 concurrent Calico ADDs through the shim + server: the server's 60 s socket idle
 * timeout cuts ADDs still waiting on the IPAM lock". The server's timeout bounds only how long a client
 * takes to send its request; an ADD that takes longer than it (here 5×) is answered all the same.
 */
describe('CNI server timeouts', () => {
  const kernels = {} as PluginKernels;

  test('an ADD that outlasts the request timeout is answered, not cut off', async () => {
    let release: () => void = () => undefined;
    const handled = new Promise<void>((resolve) => { release = resolve; });
    const server = new CniServer(kernels, {
      token: 'token', requestTimeoutMs: 20,
      handlers: {
        slow: async () => {
          // the request timeout passes (several times) while the ADD waits, e.g. on the IPAM lock
          await new Promise((resolve) => setTimeout(resolve, 100));
          release();
          return { stdout: '{"cniVersion":"1.1.0"}', exitCode: 0 };
        },
      },
    });
    const port = await server.listen();
    try {
      await expect(exchange(port, request('slow'))).resolves.toBe('0\n{"cniVersion":"1.1.0"}');
      await handled;
    } finally {
      await server.close();
    }
  });

  test('a client that never finishes its request is cut off after the request timeout', async () => {
    const server = new CniServer(kernels, { token: 'token', requestTimeoutMs: 20 });
    const port = await server.listen();
    try {
      await expect(exchange(port, 'token\0=ADD\0', false)).resolves.toBe('closed without an answer');
    } finally {
      await server.close();
    }
  });

  test('a request over the size limit is refused at once with error 6, before it is all sent', async () => {
    const server = new CniServer(kernels, { token: 'token' });
    const port = await server.listen();
    try {
      const answer = await exchange(port, 'x'.repeat(5 * 1024 * 1024), false);
      expect(answer.split('\n')[0]).toBe('1');
      expect(JSON.parse(answer.slice(2))).toEqual({
        cniVersion: '1.1.0', code: 6, msg: 'network configuration on stdin: more than 4194304 bytes is not valid; expected at most 4194304 bytes (4 MiB)',
      });
    } finally {
      await server.close();
    }
  });
});
