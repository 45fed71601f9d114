// The Node guide's "process.nextTick() vs setImmediate()": a tick runs as soon as the current
// operation ends, an immediate in the next check phase.
const log = (m) => console.log(m);
setImmediate(() => {
  log('immediate');
  process.nextTick(() => log('tick-from-immediate'));
});
process.nextTick(() => log('tick'));
log('main');
