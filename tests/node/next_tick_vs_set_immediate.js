// Node guide, "process.nextTick() vs setImmediate()": the tick runs before the immediate.
const log = (m) => console.log(m);
setImmediate(() => log('immediate'));
process.nextTick(() => log('tick'));
log('main');
