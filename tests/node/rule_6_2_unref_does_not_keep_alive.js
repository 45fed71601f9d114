// Rule 6.2: an unref'd timer does not keep the loop alive; it still runs if the loop is running
// anyway when it is due.
const log = (m) => console.log(m);
setTimeout(() => log('unrefd-early'), 10).unref();
setTimeout(() => log('refd'), 60);
setTimeout(() => log('unrefd-late'), 200).unref();
