/**
 * A TCP echo server that runs inside a pod namespace: `node echo-server.js <port>`.
 * Prints `listening` once it accepts connections so the lab knows when to probe.
 */
import * as net from 'net';

const port = Number(process.argv[2] ?? '7777');
const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
// '::' accepts IPv4 too (dual-stack socket).
server.listen(port, '::', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
