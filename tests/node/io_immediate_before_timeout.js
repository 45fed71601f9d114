// Node guide, "setImmediate() vs setTimeout()": inside an I/O callback the immediate always
// runs first (check follows poll).
const fs = require('fs');
const log = (m) => console.log(m);
fs.stat(__filename, () => {
  log('io');
  setTimeout(() => log('timeout'), 0);
  setImmediate(() => log('immediate'));
});
