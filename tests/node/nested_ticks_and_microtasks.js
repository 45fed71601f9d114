// A drain runs every tick, then every microtask, and repeats: a tick queued by a microtask waits
// for the microtask queue to empty.
const log = (m) => console.log(m);
process.nextTick(() => {
  log('tick 1');
  process.nextTick(() => log('tick from tick'));
  queueMicrotask(() => log('microtask from tick'));
});
queueMicrotask(() => {
  log('microtask 1');
  process.nextTick(() => log('tick from microtask'));
  queueMicrotask(() => log('microtask from microtask'));
});
process.nextTick(() => log('tick 2'));
queueMicrotask(() => log('microtask 2'));
