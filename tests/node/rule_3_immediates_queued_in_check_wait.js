// Rule 3 (check): an immediate queued by an immediate runs in the next iteration, after the
// immediates already queued.
const log = (m) => console.log(m);
setImmediate(() => {
  log('A');
  setImmediate(() => log('C'));
});
setImmediate(() => log('B'));
