/**
 * Port forward out of a lab namespace: `node forward.js <port> <unix-socket>` listens on
 * 127.0.0.1:<port> inside the namespace and pipes each connection to a unix socket the harness
 * serves (unix sockets live in the filesystem, which namespaces share). Prints `listening`.
 */
import * as net from 'net';

const [portText, socketPath] = process.argv.slice(2);
const server = net.createServer((inbound) => {
  const outbound = net.connect(socketPath);
  inbound.pipe(outbound).pipe(inbound);
  const close = () => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', close);
  outbound.on('error', close);
});
server.listen(Number(portText), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
