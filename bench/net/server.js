// The echo benchmark's Node server: prints `port N`, echoes until killed.
'use strict';
const net = require('net');
const server = net.createServer({ noDelay: true }, (socket) => socket.on('data', (d) => socket.write(d)));
server.listen(0, '127.0.0.1', 1024, () => console.log('port', server.address().port));
