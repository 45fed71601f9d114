// Node >= 11: ticks and microtasks drain after each immediate.
const log = (m) => console.log(m);
for (const n of [1, 2]) {
  setImmediate(() => {
    log(`immediate ${n}`);
    process.nextTick(() => log(`tick ${n}`));
    queueMicrotask(() => log(`microtask ${n}`));
  });
}
