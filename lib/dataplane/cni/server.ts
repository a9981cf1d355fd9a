import { timingSafeEqual } from 'node:crypto';
import { Server, Socket, createServer } from 'node:net';
import { MAX_CONF_BYTES, oversizeConf } from './errors';
import { CniOutcome, runCni } from './main';
import { PluginKernels } from './plugin';

/**
 * A resident CNI server: the same plugin logic as the executable, in a process that is already
 * running, reached by the `cnikit-flannel` shim (shim.ts) over loopback TCP. It removes Node's
 * start-up and module loading from every pod's ADD/DEL (BENCHMARKS.md), as Multus' thick plugin
 * and Cilium's CNI do with their agents.
 *
 * Wire format, both ways NUL-free text: the request is NUL-terminated fields
 * `token, CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH, stdin`, each
 * variable as `=<value>` when set and empty when unset; the
 * response is `<exit code>\n<stdout>`, then the server closes the connection. The token (a file
 * only root can read) keeps other local processes out.
 */
/** One CNI invocation, from its environment and stdin to stdout and the exit code. */
export type CniHandler = (env: NodeJS.ProcessEnv, stdin: string) => Promise<CniOutcome>;

export interface CniServerOptions {
  readonly token: string;
  /**
   * Handlers for other plugin types, by the conflist entry's `type` (e.g. `cnikit-calico` and
   * `cnikit-calico-ipam`, calico-server.ts); every other type is the Flannel-style plugin.
   * @default none
   */
  readonly handlers?: Readonly<Record<string, CniHandler>>;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** How long a client may take to send its request (not how long the answer may take). @default 60000 */
  readonly requestTimeoutMs?: number;
}

const FIELDS = ['token', 'CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH', 'stdin'] as const;
/** The request's fields besides stdin (token and environment) get this much room beyond MAX_CONF_BYTES. */
const MAX_ENVIRONMENT = 64 * 1024;
/**
 * How long a client may take to send its request. Only the request: once it is in, the socket has no
 * timeout, so an ADD still waiting on the IPAM lock or the datastore (bounded by its own deadline) is
 * never cut off — the shim waits for the answer as long as the server works on it.
 */
const REQUEST_TIMEOUT_MS = 60_000;

export class CniServer {
  private server?: Server;

  constructor(private readonly kernels: PluginKernels, private readonly options: CniServerOptions) {}

  /** Starts listening; resolves with the port. */
  listen(): Promise<number> {
    // half-open: a client may shut down its sending side once the request is out and still read the answer
    const server = createServer({ allowHalfOpen: true }, (socket) => this.serve(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * A client that goes away mid-ADD is not followed: the ADD completes (or rolls back) all the same,
   * and the runtime's DEL or retried ADD (idempotent) finds its state.
   */
  private serve(socket: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let separators = 0;
    let done = false;
    const reply = (code: number, stdout: string) => {
      done = true;
      socket.setTimeout(0);
      if (!socket.destroyed) socket.end(`${code}\n${stdout}`);
    };
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, () => {
      if (!done) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      chunks.push(chunk);
      size += chunk.length;
      for (let at = chunk.indexOf(0); at !== -1; at = chunk.indexOf(0, at + 1)) separators++;
      if (size > MAX_CONF_BYTES + MAX_ENVIRONMENT) return reply(1, JSON.stringify(oversizeConf().toJSON('1.1.0')));
      if (separators < FIELDS.length) return; // the last field is not terminated yet
      done = true;
      socket.setTimeout(0);
      const fields = Buffer.concat(chunks).toString('utf8').split('\0');
      if (Buffer.byteLength(fields[FIELDS.length - 1]) > MAX_CONF_BYTES) return reply(1, JSON.stringify(oversizeConf().toJSON('1.1.0')));
      void this.handle(fields).then(({ code, stdout }) => reply(code, stdout), (error: unknown) => reply(1, JSON.stringify({ cniVersion: '1.1.0', code: 999, msg: String(error) })));
    });
  }

  private async handle(fields: readonly string[]): Promise<{ code: number; stdout: string }> {
    const [token, command, containerId, netns, ifname, args, cniPath, stdin] = fields;
    if (!sameToken(token, this.options.token)) {
      return { code: 1, stdout: JSON.stringify({ cniVersion: '1.1.0', code: 4, msg: 'cnikit CNI server: wrong or missing token' }) };
    }
    const env: NodeJS.ProcessEnv = {
      CNI_COMMAND: variable(command), CNI_CONTAINERID: variable(containerId), CNI_NETNS: variable(netns),
      CNI_IFNAME: variable(ifname), CNI_ARGS: variable(args), CNI_PATH: variable(cniPath),
    };
    const type = pluginType(stdin);
    const handlers = this.options.handlers ?? {};
    const handler = Object.hasOwn(handlers, type) ? handlers[type] : undefined;
    const outcome = handler !== undefined ? await handler(env, stdin) : await runCni(env, stdin, this.kernels);
    return { code: outcome.exitCode, stdout: outcome.stdout };
  }
}

/** The shim sends a variable as `=<value>` when it is set (even to ""), and "" when it is unset. */
function variable(field: string): string | undefined {
  return field.startsWith('=') ? field.slice(1) : undefined;
}

function pluginType(stdin: string): string {
  try {
    const type = (JSON.parse(stdin) as { type?: unknown }).type;
    return typeof type === 'string' ? type : '';
  } catch {
    return '';
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
