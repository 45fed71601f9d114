// Clearing a timer that is due in the same timers phase but has not run yet prevents it.
const log = (m) => console.log(m);
setTimeout(() => {
  log('a');
  clearTimeout(b);
}, 10);
const b = setTimeout(() => log('b'), 10);
setTimeout(() => log('c'), 10);
