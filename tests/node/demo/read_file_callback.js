// Puzzle 3 of `python -m phaseloop demo`: a readFile callback runs in the poll phase; its tick
// drains at once, the check phase (the immediate) follows poll, the timer waits for the next
// iteration's timers phase.
const fs = require('fs');
const log = (m) => console.log(m);
fs.readFile(__filename, () => {
  log('readFile callback');
  setTimeout(() => log('setTimeout'), 0);
  setImmediate(() => log('setImmediate'));
  process.nextTick(() => log('nextTick'));
});
log('script end');
