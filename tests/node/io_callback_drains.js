// Node guide, the event loop explained: after an I/O callback, its ticks and microtasks drain
// before the check phase, whose immediate drains its own tick before the next timers phase.
const fs = require('fs');
const log = (m) => console.log(m);
fs.stat(__filename, () => {
  log('io');
  setTimeout(() => log('timeout'), 0);
  setImmediate(() => {
    log('immediate');
    process.nextTick(() => log('tick in immediate'));
  });
  process.nextTick(() => log('tick'));
  queueMicrotask(() => log('microtask'));
});
