// Rule 4.5: an interval runs every delay until it clears itself in its own callback.
const log = (m) => console.log(m);
let n = 0;
const iv = setInterval(() => {
  n += 1;
  log('interval' + n);
  if (n === 3) clearInterval(iv);
}, 10);
