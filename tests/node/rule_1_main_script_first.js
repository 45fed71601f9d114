// Rules 1 and 2: the main script runs to its end before anything it scheduled; then ticks, then
// microtasks, then the loop (a timer, and the immediate it schedules).
const log = (m) => console.log(m);
log('script start');
setTimeout(() => {
  log('timeout');
  setImmediate(() => log('immediate'));
}, 0);
queueMicrotask(() => log('microtask'));
process.nextTick(() => log('tick'));
log('script end');
