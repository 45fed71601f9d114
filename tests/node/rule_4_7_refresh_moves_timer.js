// Rule 4.7: refresh() re-arms a timer from now, so it runs after one due in between.
const log = (m) => console.log(m);
const a = setTimeout(() => log('a'), 100);
setTimeout(() => {
  log('b');
  a.refresh();
}, 50);
setTimeout(() => log('c'), 200);
