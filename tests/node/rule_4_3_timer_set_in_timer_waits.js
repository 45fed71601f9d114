// Rule 4.3: a timer scheduled inside a timer callback never runs in the same timers phase;
// an immediate scheduled there runs first.
const log = (m) => console.log(m);
setTimeout(() => {
  log('A');
  setTimeout(() => log('B'), 0);
  setImmediate(() => log('I'));
}, 0);
