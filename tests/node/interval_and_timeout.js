// An interval re-arms after each run; it is cleared after its third run. The timeout falls
// between the second and third run.
const log = (m) => console.log(m);
let runs = 0;
const interval = setInterval(() => {
  runs += 1;
  log(`interval ${runs}`);
  if (runs === 3) clearInterval(interval);
}, 100);
setTimeout(() => log('timeout 250'), 250);
