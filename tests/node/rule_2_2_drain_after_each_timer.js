// Rule 2.2: ticks and microtasks drain after every timer, not after the whole timers phase.
const log = (m) => console.log(m);
setTimeout(() => {
  log('timeout1');
  process.nextTick(() => log('tick1'));
  queueMicrotask(() => log('micro1'));
}, 5);
setTimeout(() => {
  log('timeout2');
  queueMicrotask(() => log('micro2'));
}, 5);
