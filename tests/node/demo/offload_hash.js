// Puzzle 6 of `python -m phaseloop demo`: a slow hash runs on the thread pool, so the loop keeps
// running an interval meanwhile; the hash's callback comes back in the poll phase.
const crypto = require('crypto');
const log = (m) => console.log(m);
let ticks = 0;
const interval = setInterval(() => { ticks += 1; }, 10);
log('hashing on the pool');
crypto.pbkdf2('password', 'salt', 300000, 32, 'sha512', (err, key) => {
  log(`hash done: ${key.length} bytes`);
  log(`the interval ran while the pool hashed: ${ticks >= 3}`);
  clearInterval(interval);
});
