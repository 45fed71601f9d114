// Rule 4.4: timers with the same delay run in the order they were scheduled.
const log = (m) => console.log(m);
for (const name of ['a', 'b', 'c', 'd']) setTimeout(() => log(name), 20);
