// Rule 2.2: ticks and microtasks drain after every immediate.
const log = (m) => console.log(m);
setImmediate(() => {
  log('immediate1');
  queueMicrotask(() => log('micro1'));
  process.nextTick(() => log('tick1'));
});
setImmediate(() => log('immediate2'));
