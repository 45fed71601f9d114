// Rule 4.4: lists run in expiry order, whatever order they were created in.
const log = (m) => console.log(m);
setTimeout(() => log('t100'), 100);
setTimeout(() => log('t50'), 50);
setTimeout(() => log('t150'), 150);
setTimeout(() => log('t50b'), 50);
