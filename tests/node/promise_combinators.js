// Promise.all / allSettled / race / any: results, and the microtask in which each settles.
const log = (m) => console.log(m);
let n = 0;
const step = () => { n++; log(`tick ${n}`); if (n < 4) queueMicrotask(step); };
queueMicrotask(step);
const thenable = (v) => ({ then(res) { res(v); } });
const str = (x) => (Array.isArray(x) ? `[${x.map(str).join(',')}]`
  : typeof x === 'object' ? (x.status === 'fulfilled' ? `fulfilled:${x.value}` : `rejected:${x.reason}`)
  : String(x));
const show = (name, p) => p.then((v) => log(`${name} fulfilled ${str(v)}`),
  (r) => log(`${name} rejected ${r instanceof AggregateError ? `AggregateError ${str(r.errors)}` : r}`));
show('all values', Promise.all([1, Promise.resolve(2), thenable(3)]));
show('all plain', Promise.all([1, 2]));
show('all empty', Promise.all([]));
show('all rejects', Promise.all([Promise.resolve(1), Promise.reject('no'), Promise.reject('later')]));
show('all iterator throws', Promise.all((function* () { yield 1; throw 'iterator broke'; })()));
show('allSettled', Promise.allSettled([Promise.resolve(1), Promise.reject('x'), 3]));
show('allSettled empty', Promise.allSettled([]));
show('race', Promise.race([thenable('slow'), Promise.resolve('fast')]));
show('race reject', Promise.race([Promise.reject('first'), Promise.resolve('second')]));
show('any', Promise.any([Promise.reject('a'), thenable('b'), Promise.resolve('c')]));
show('any all rejected', Promise.any([Promise.reject('a'), Promise.reject('b')]));
show('any empty', Promise.any([]));
const pending = new Promise(() => {});
show('race with pending', Promise.race([pending, new Promise((r) => setTimeout(() => r('timer'), 1))]));
log('script end');
