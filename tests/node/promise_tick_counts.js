// Ordering rule 7.1 (docs/ordering.md): how many microtasks each way of settling costs. A ticker
// logs every microtask turn; each promise logs in the turn its reaction runs.
const log = (m) => console.log(m);
let n = 0;
const step = () => { n++; log(`tick ${n}`); if (n < 5) queueMicrotask(step); };
queueMicrotask(step);
Promise.resolve('a').then((v) => log(`then on fulfilled ${v}`));
new Promise((r) => r(Promise.resolve('b'))).then((v) => log(`resolved with promise ${v}`));
new Promise((r) => r({ then(res) { res('c'); } })).then((v) => log(`resolved with thenable ${v}`));
(async () => { await Promise.resolve(); log('await promise'); })();
(async () => { await 1; log('await value'); })();
(async () => { await { then(r) { r(); } }; log('await thenable'); })();
(async () => 'v')().then(() => log('async returns value'));
(async () => Promise.resolve('p'))().then(() => log('async returns promise'));
log('script end');
