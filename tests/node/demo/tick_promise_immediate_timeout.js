// Puzzle 2 of `python -m phaseloop demo`: nextTick beats a promise, both beat every phase; the
// timer beats the immediate because the script took 2 ms (without that, the order of these two is
// luck: ordering rule 4.8 in docs/ordering.md), and the timers phase comes before the check phase.
const log = (m) => console.log(m);
setImmediate(() => log('setImmediate'));
setTimeout(() => log('setTimeout'), 0);
Promise.resolve().then(() => log('promise'));
process.nextTick(() => log('nextTick'));
const start = Date.now();
while (Date.now() - start < 2);
log('script end (took 2 ms)');
