// Rule 4.6: clearing a timer that is due in the same timers phase prevents it.
const log = (m) => console.log(m);
let b;
setTimeout(() => {
  log('a');
  clearTimeout(b);
}, 10);
b = setTimeout(() => log('b'), 10);
setTimeout(() => log('c'), 10);
