// Await chains interleaved with queueMicrotask, process.nextTick, .then chains and a timer.
const log = (m) => console.log(m);
async function worker(name, steps) {
  log(`${name} start`);
  for (let i = 1; i <= steps; i++) {
    await null;
    log(`${name} step ${i}`);
    if (i === 1) process.nextTick(() => log(`${name} tick after step 1`));
  }
  return name;
}
worker('A', 3).then((v) => log(`${v} done`));
queueMicrotask(() => log('micro 1'));
process.nextTick(() => log('tick 1'));
worker('B', 2).then((v) => log(`${v} done`));
Promise.resolve().then(() => log('then 1')).then(() => log('then 2')).then(() => log('then 3'));
queueMicrotask(() => { log('micro 2'); queueMicrotask(() => log('micro 2.1')); });
setTimeout(() => {
  log('timeout');
  Promise.resolve().then(() => log('then in timeout'));
  process.nextTick(() => log('tick in timeout'));
  setImmediate(() => log('immediate'));
}, 0);
log('script end');
