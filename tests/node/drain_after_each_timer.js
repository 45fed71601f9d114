// Node >= 11: ticks and microtasks drain after each timer, not after the whole timers phase.
const log = (m) => console.log(m);
for (const n of [1, 2]) {
  setTimeout(() => {
    log(`timeout ${n}`);
    process.nextTick(() => log(`tick ${n}`));
    queueMicrotask(() => log(`microtask ${n}`));
  }, 0);
}
