// A callback in every phase Node lets JavaScript reach: a refused connect's error and, once it
// is in, a server's connection and its client's data (poll), an immediate (check), the
// client's 'close' (close) and a 0 ms timeout (timers, of the next iteration). Each step starts
// from the one before, so no two land in the same poll and the order owes nothing to luck.
// Node gives JavaScript no pending, idle or prepare callback; the phaseloop puzzle adds one of
// each, which logs nothing.
const net = require('net');

net.connect(1, '127.0.0.1').on('error', (error) => {
  console.log(`poll: the connect to port 1 fails with ${error.code}`);
  const server = net.createServer((socket) => {
    console.log('poll: the server accepts a connection');
    socket.end('hello');
    server.close();
  });
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1');
    client.on('data', (data) => {
      console.log(`poll: the client reads '${data}'`);
      setTimeout(() => console.log('timers: the 0 ms timeout'), 0);
      setImmediate(() => console.log('check: the immediate'));
      client.destroy();
    });
    client.on('close', () => console.log("close: the client's 'close'"));
  });
});
console.log('script end');
