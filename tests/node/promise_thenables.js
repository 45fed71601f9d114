// Thenable adoption: one PromiseResolveThenableJob calls `then` with one-shot resolve/reject
// functions that share one "already resolved" flag.
const log = (m) => console.log(m);
let n = 0;
const step = () => { n++; log(`tick ${n}`); if (n < 4) queueMicrotask(step); };
queueMicrotask(step);
const show = (name) => (p) => p.then((v) => log(`${name} fulfilled ${v}`), (r) => log(`${name} rejected ${r}`));
show('sync')(new Promise((r) => r({ then(res) { log('sync then called'); res('s'); } })));
show('twice')(new Promise((r) => r({ then(res, rej) { res('first'); res('second'); rej('third'); } })));
show('reject first')(new Promise((r) => r({ then(res, rej) { rej('no'); res('yes'); } })));
show('throws after resolve')(new Promise((r) => r({ then(res) { res('kept'); throw 'ignored'; } })));
show('throws')(new Promise((r) => r({ then() { throw 'boom'; } })));
show('getter throws')(new Promise((r) => r({ get then() { throw 'getter'; } })));
show('plain')(new Promise((r) => r('plain')));
show('nested')(new Promise((r) => r({ then(res) { res({ then(res2) { res2('inner'); } }); } })));
const late = {
  then(res) {
    log('late then called');
    setTimeout(() => { log('late resolves'); res('late'); }, 5);
  },
};
show('late')(new Promise((r) => r(late)));
const self = new Promise((r) => setTimeout(() => r(self), 1));
show('self')(self);
show('adopt rejected')(new Promise((r) => r(Promise.reject('inner reason'))));
log('script end');
