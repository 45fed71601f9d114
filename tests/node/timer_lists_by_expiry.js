// Timers of one delay run in scheduling order; lists run in expiry order, so the 50 ms timer
// scheduled last runs first.
const log = (m) => console.log(m);
setTimeout(() => log('100 a'), 100);
setTimeout(() => log('100 b'), 100);
setTimeout(() => log('50'), 50);
