// Rules 4.9 and 3: inside an I/O (pool) callback, ticks first, then the immediate (check
// follows poll), then the 0 ms timer in the next iteration.
const fs = require('fs');
const log = (m) => console.log(m);
fs.stat(__filename, () => {
  log('io');
  setTimeout(() => log('timeout'), 0);
  setImmediate(() => log('immediate'));
  process.nextTick(() => log('tick'));
});
