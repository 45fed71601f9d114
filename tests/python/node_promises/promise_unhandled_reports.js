// Rule 2.5 as phaseloop's Python API shows it: a rejection still unhandled when a drain ends is
// reported to the 'unhandledRejection' listener (loop.on_unhandled_rejection); one handled
// later in the same drain is not; what a report queues runs in that drain.
const log = (m) => console.log(m);
process.on('unhandledRejection', (reason) => {
  log(`unhandledRejection ${reason}`);
  process.nextTick(() => log(`tick queued by the report of ${reason}`));
});
const sameDrain = Promise.reject('same drain');
queueMicrotask(() => queueMicrotask(() => sameDrain.catch(() => log('caught same drain'))));
Promise.reject('never handled');
const later = Promise.reject('later iteration');
Promise.resolve().then(() => { throw 'thrown in then'; });
Promise.reject('chained').then(() => {});
setTimeout(() => {
  log('timeout');
  later.catch((r) => log(`caught ${r}`));
  Promise.reject('in timeout');
  setImmediate(() => log('immediate'));
}, 1);
log('script end');
