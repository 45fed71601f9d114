// Rules 4.4 and 4.5: an interval re-armed after each run interleaves with a timeout by due time.
const log = (m) => console.log(m);
let n = 0;
const iv = setInterval(() => {
  n += 1;
  log('interval' + n);
  if (n === 3) clearInterval(iv);
}, 100);
setTimeout(() => log('timeout250'), 250);
