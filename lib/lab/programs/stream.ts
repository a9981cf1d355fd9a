/**
 * A long-lived TCP stream from inside a pod namespace: `node stream.js <ip> <port> [intervalMs]`.
 * Sends a numbered line every interval over ONE connection and checks that the echo server
 * returns it. Prints a JSON line per echo, `{"seq":n}`, and `{"error":"..."}` then exits 1 if the
 * connection breaks. The connection is never re-opened: surviving means the same TCP session.
 */
import * as net from 'net';

const [ip, portText, intervalText] = process.argv.slice(2);
const socket = net.connect({ host: ip, port: Number(portText) });
socket.setEncoding('utf8');
let seq = 0;
let buffer = '';
let expected = 1;
const fail = (error: string) => {
  process.stdout.write(JSON.stringify({ error }) + '\n');
  process.exit(1);
};
socket.on('connect', () => {
  process.stdout.write(JSON.stringify({ connected: true, local: `${socket.localAddress}:${socket.localPort}` }) + '\n');
  setInterval(() => socket.write(`${++seq}\n`), Number(intervalText ?? '100'));
});
socket.on('data', (d: string) => {
  buffer += d;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (Number(line) !== expected) fail(`echo out of order: got ${line}, expected ${expected}`);
    process.stdout.write(JSON.stringify({ seq: expected }) + '\n');
    expected++;
  }
});
socket.on('error', (err) => fail(err.message));
socket.on('close', () => fail('connection closed'));
process.on('SIGTERM', () => process.exit(0));
