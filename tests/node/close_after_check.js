// Rule 3 (close): a handle closed in the check phase gets its close callback in the close phase
// of the same iteration, before an immediate queued meanwhile (which waits for the next check).
const net = require('net');
const log = (m) => console.log(m);
const server = net.createServer((conn) => conn.on('error', () => {}));
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1');
  client.on('connect', () => {
    server.close();
    setImmediate(() => {
      log('immediate1');
      client.destroy();
      setImmediate(() => log('immediate2'));
      process.nextTick(() => log('tick'));
    });
  });
  client.on('close', () => log('close'));
});
