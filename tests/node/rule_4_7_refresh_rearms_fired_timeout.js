// Rule 4.7: refresh() of a one-shot timer that already fired (and was not cleared) re-arms it
// with the same callback; clearTimeout() ends it for good, so a later refresh() does nothing.
const log = (m) => console.log(m);
const a = setTimeout(() => log('a'), 50);
setTimeout(() => {
  log('b');
  a.refresh(); // fired at 50: runs again at 150
}, 100);
setTimeout(() => {
  log('c');
  clearTimeout(a);
  a.refresh(); // cleared: stays cleared
}, 200);
setTimeout(() => log('d'), 300);
