// Puzzle 5 of `python -m phaseloop demo`: a callback that blocks for 200 ms delays every other
// callback (the 30 ms timer runs late), and the event-loop delay monitor records the stall.
const { monitorEventLoopDelay } = require('perf_hooks');
const log = (m) => console.log(m);
const monitor = monitorEventLoopDelay({ resolution: 10 });
monitor.enable();
const start = Date.now();
setTimeout(() => {
  log('blocking the loop for 200 ms');
  const begin = Date.now();
  while (Date.now() - begin < 200);
}, 20);
setTimeout(() => {
  log(`setTimeout 30 ms ran after the block: ${Date.now() - start >= 200}`);
  setImmediate(() => {
    monitor.disable();
    log(`delay monitor max >= 100 ms: ${monitor.max >= 100e6}`);
  });
}, 30);
