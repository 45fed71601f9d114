// Rules 4.9 and 3 (the Node guide's "setImmediate() vs setTimeout()" inside an I/O cycle): in a
// pool completion (poll phase), ticks first, then the immediate (check follows poll), then the
// 0 ms timer in the next iteration.
const fs = require('fs');
const log = (m) => console.log(m);
fs.stat(__filename, () => {
  log('io');
  setTimeout(() => log('timeout'), 0);
  setImmediate(() => log('immediate'));
  process.nextTick(() => log('tick'));
});
