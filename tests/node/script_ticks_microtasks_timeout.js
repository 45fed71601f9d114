// The main script runs to its end first; then ticks, then microtasks, then the timer.
const log = (m) => console.log(m);
log('script start');
setTimeout(() => log('timeout'), 0);
queueMicrotask(() => log('microtask 1'));
process.nextTick(() => log('tick 1'));
queueMicrotask(() => log('microtask 2'));
process.nextTick(() => log('tick 2'));
log('script end');
