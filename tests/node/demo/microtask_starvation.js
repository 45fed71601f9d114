// Puzzle 4 of `python -m phaseloop demo`: a chain of 1000 microtasks, each queueing the next,
// holds up everything else: the tick queued by the first one and the immediate wait for the
// whole chain (bounded here, so the program ends; unbounded, it would starve the loop).
const log = (m) => console.log(m);
const LENGTH = 1000;
let turns = 0;
function spin() {
  turns += 1;
  if (turns === 1) {
    log('microtask 1 queues a tick');
    process.nextTick(() => log(`nextTick, after ${turns} microtasks`));
  }
  if (turns < LENGTH) {
    queueMicrotask(spin);
  } else {
    log(`microtask ${turns} ends the chain`);
  }
}
setImmediate(() => log(`setImmediate, after ${turns} microtasks`));
queueMicrotask(spin);
log('script end');
