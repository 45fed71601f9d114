// Puzzle 1 of `python -m phaseloop demo`: the main script runs to its end, then the microtask
// queue drains in FIFO order (a `then` queued by a reaction waits its turn), then the timer.
const log = (m) => console.log(m);
log('script start');
setTimeout(() => log('setTimeout'), 0);
Promise.resolve()
  .then(() => log('promise 1'))
  .then(() => log('promise 2'));
queueMicrotask(() => log('queueMicrotask'));
log('script end');
