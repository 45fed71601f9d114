// An immediate queued during the check phase runs in the next iteration, after the rest of the
// current batch (and the ticks each immediate queued).
const log = (m) => console.log(m);
setImmediate(() => {
  log('immediate 1');
  setImmediate(() => log('immediate 3'));
  process.nextTick(() => log('tick in immediate 1'));
});
setImmediate(() => log('immediate 2'));
