// Rule 2.3: every tick queued in the main script runs before any microtask; a tick queued by a
// microtask waits until the microtask queue is empty.
const log = (m) => console.log(m);
queueMicrotask(() => {
  log('micro1');
  process.nextTick(() => log('tick-from-micro'));
  queueMicrotask(() => log('micro-from-micro'));
});
process.nextTick(() => {
  log('tick1');
  process.nextTick(() => log('tick-from-tick'));
  queueMicrotask(() => log('micro-from-tick'));
});
queueMicrotask(() => log('micro2'));
process.nextTick(() => log('tick2'));
