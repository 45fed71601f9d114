// Rule 2.5: rejections still unhandled when a drain ends are reported ('unhandledRejection');
// one handled later in the same drain is not; one handled in a later iteration is reported
// again as handled ('rejectionHandled') when that drain ends. What a report queues runs at once.
const log = (m) => console.log(m);
process.on('unhandledRejection', (reason) => {
  log(`unhandledRejection ${reason}`);
  process.nextTick(() => log(`tick queued by the report of ${reason}`));
});
const sameDrain = Promise.reject('same drain');
queueMicrotask(() => queueMicrotask(() => sameDrain.catch(() => log('caught same drain'))));
Promise.reject('never handled');
const later = Promise.reject('later iteration');
process.on('rejectionHandled', (p) => log(`rejectionHandled ${p === later ? 'later iteration' : '?'}`));
Promise.resolve().then(() => { throw 'thrown in then'; });
Promise.reject('chained').then(() => {});
setTimeout(() => {
  log('timeout');
  later.catch((r) => log(`caught ${r}`));
  Promise.reject('in timeout');
  setImmediate(() => log('immediate'));
}, 1);
log('script end');
