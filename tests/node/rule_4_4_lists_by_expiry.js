// Rule 4.4: timer lists run in expiry order, whatever order they were created in; timers of one
// delay run in the order they were set.
const log = (m) => console.log(m);
setTimeout(() => log('t100'), 100);
setTimeout(() => log('t50'), 50);
setTimeout(() => log('t150'), 150);
setTimeout(() => log('t50b'), 50);
for (const name of ['a', 'b', 'c']) setTimeout(() => log('t20' + name), 20);
