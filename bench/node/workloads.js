// Node.js as the third reference for the JS-shaped workloads: the same shapes phaseloop runs
// from C and Python (setImmediate chain and batch, nextTick chain, promise chain, a million
// setTimeout with delays i % 1000).
//
//     node bench/node/workloads.js WORKLOAD N
//
// runs one workload once and prints one line per figure, `<metric> <ns per operation>`, for
// bench/report.py. A workload that lost or repeated a callback exits with an error instead.
'use strict';

const { hrtime, cpuUsage } = process;

function perOp(totalNs, n) {
  return Number(totalNs) / n;
}

function expect(what, got, want) {
  if (got !== want) {
    console.error(`${what}: ${got} callbacks ran, expected ${want}`);
    process.exit(1);
  }
}

function print(figures) {
  for (const [metric, value] of Object.entries(figures)) {
    console.log(`${metric} ${value.toFixed(3)}`);
  }
}

const workloads = {
  // setImmediate n times, then let the loop run them.
  immediates_flat(n, done) {
    let count = 0;
    const cb = () => {
      count++;
    };
    const start = hrtime.bigint();
    for (let i = 0; i < n; i++) setImmediate(cb);
    const scheduled = hrtime.bigint();
    setImmediate(() => {
      // Queued last, so it runs after every counted one, in the same check phase.
      const ran = hrtime.bigint();
      expect('immediates_flat', count, n);
      done({
        total: perOp(ran - start, n),
        schedule: perOp(scheduled - start, n),
        run: perOp(ran - scheduled, n),
      });
    });
  },

  // Each immediate schedules the next: one per iteration.
  immediates_chain(n, done) {
    let left = n;
    const start = hrtime.bigint();
    const cb = () => {
      if (--left > 0) setImmediate(cb);
      else done({ callback: perOp(hrtime.bigint() - start, n) });
    };
    setImmediate(cb);
  },

  // Each tick queues the next.
  tick_chain(n, done) {
    let left = n;
    const start = hrtime.bigint();
    const cb = () => {
      if (--left > 0) process.nextTick(cb);
      else done({ callback: perOp(hrtime.bigint() - start, n) });
    };
    process.nextTick(cb);
  },

  // Each reaction subscribes the next to a resolved promise.
  promise_chain(n, done) {
    let left = n;
    const start = hrtime.bigint();
    const step = () => {
      if (--left > 0) Promise.resolve().then(step);
      else done({ reaction: perOp(hrtime.bigint() - start, n) });
    };
    Promise.resolve().then(step);
  },

  // setTimeout(i % 1000) n times; the run ends with the last one.
  timers(n, done) {
    let count = 0;
    let scheduled;
    let cpu;
    const cb = () => {
      if (++count === n) {
        const ran = hrtime.bigint();
        const used = cpuUsage(cpu);
        done({
          start: perOp(scheduled - start, n),
          run_cpu: ((used.user + used.system) * 1000) / n,
          run_wall: perOp(ran - scheduled, n),
        });
      }
    };
    const start = hrtime.bigint();
    for (let i = 0; i < n; i++) setTimeout(cb, i % 1000);
    scheduled = hrtime.bigint();
    cpu = cpuUsage();
  },
};

function main() {
  const [name, n] = [process.argv[2], Number(process.argv[3])];
  const workload = workloads[name];
  if (!workload || !(n > 0)) {
    console.error(`usage: node workloads.js WORKLOAD N\nworkloads: ${Object.keys(workloads).join(' ')}`);
    process.exit(2);
  }
  workload(n, print);
}

main();
