// then / catch / finally: pass-through, handler results, and the microtask each settles in.
const log = (m) => console.log(m);
let n = 0;
const step = () => { n++; log(`tick ${n}`); if (n < 5) queueMicrotask(step); };
queueMicrotask(step);
Promise.resolve(1).then().then((v) => log(`then() passes value ${v}`));
Promise.reject('r1').then(() => log('not called')).catch((r) => log(`catch after then gets ${r}`));
Promise.reject('r2').catch((r) => `recovered ${r}`).then((v) => log(`then after catch gets ${v}`));
Promise.resolve(2).then(() => { throw 'thrown'; }).catch((r) => log(`handler throw rejects: ${r}`));
Promise.resolve(3).then(() => Promise.resolve('from promise')).then((v) => log(`handler returns promise: ${v}`));
Promise.resolve(4).finally(() => { log('finally on fulfilled runs'); return 'ignored'; }).then((v) => log(`finally passes value ${v}`));
Promise.reject('r5').finally(() => log('finally on rejected runs')).catch((r) => log(`finally passes reason ${r}`));
Promise.resolve(6).finally(() => { throw 'finally threw'; }).catch((r) => log(`throwing finally rejects: ${r}`));
Promise.resolve(7).finally(() => Promise.reject('finally promise rejected')).catch((r) => log(`finally returning rejected promise: ${r}`));
Promise.resolve(8).then((v) => v).then((v) => log(`two thens: ${v}`));
log('script end');
