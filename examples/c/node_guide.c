/* The orderings of the Node.js guide "The Node.js Event Loop", in C.
 *
 *   cc node_guide.c $(pkg-config --cflags --libs phaseloop) -o node_guide && ./node_guide
 *
 * Each section prints the order its callbacks ran in; the comment above it is what Node prints
 * for the same program. */
#include <phaseloop.h>

#include <stdio.h>
#include <stdlib.h>

static void say(pl_loop *lp, void *data) {
    printf("  %-10s (phase: %s)\n", (const char *)data, pl_phase_name(pl_current_phase(lp)));
}

static pl_loop *new_loop(pl_clock clock) {
    pl_options opts;
    pl_loop *lp;
    pl_options_init(&opts);
    opts.clock = clock;
    if (pl_loop_create(&opts, &lp) != PL_OK) {
        fprintf(stderr, "cannot create a loop\n");
        exit(1);
    }
    return lp;
}

static void run_and_free(pl_loop *lp) {
    int rc = pl_run(lp, PL_RUN_DEFAULT);
    if (rc < 0) {
        fprintf(stderr, "pl_run: %s\n", pl_strerror(rc));
        exit(1);
    }
    pl_loop_free(lp);
}

/* 1. setTimeout(0) against setImmediate in the main module: in Node the order depends on
 *    whether a millisecond passed before the first timers phase. On the virtual clock no time
 *    passes, so the immediate runs first, every time. */
static void main_module(void) {
    pl_loop *lp = new_loop(PL_CLOCK_VIRTUAL);
    printf("setTimeout(0) vs setImmediate in the main module (virtual clock):\n");
    pl_set_timeout(lp, 0, say, "timeout", NULL, NULL);
    pl_set_immediate(lp, say, "immediate", NULL, NULL);
    run_and_free(lp);
}

/* 2. Inside an I/O callback the immediate always comes first: check follows poll.
 *    Node: fs.readFile(__filename, () => { setTimeout(..., 0); setImmediate(...); })
 *    prints immediate, then timeout. */
static void no_work(void *data) { (void)data; }

static void io_done(pl_loop *lp, void *data, int status) {
    (void)data, (void)status;
    say(lp, "io");
    pl_set_timeout(lp, 0, say, "timeout", NULL, NULL);
    pl_set_immediate(lp, say, "immediate", NULL, NULL);
}

static void inside_io(void) {
    pl_loop *lp = new_loop(PL_CLOCK_REAL);
    printf("setTimeout(0) vs setImmediate inside an I/O callback:\n");
    pl_queue_work(lp, no_work, io_done, NULL, NULL, NULL);
    run_and_free(lp);
}

/* 3. process.nextTick runs as soon as the current operation ends, before any phase; promise
 *    reactions (microtasks) right after the ticks.
 *    Node: setImmediate(...); Promise.resolve().then(...); process.nextTick(...); log('main')
 *    prints main, nextTick, microtask, immediate. */
static void next_tick(void) {
    pl_loop *lp = new_loop(PL_CLOCK_REAL);
    printf("process.nextTick vs queueMicrotask vs setImmediate:\n");
    pl_set_immediate(lp, say, "immediate", NULL, NULL);
    pl_queue_microtask(lp, say, "microtask", NULL);
    pl_next_tick(lp, say, "nextTick", NULL);
    say(lp, "main");
    run_and_free(lp);
}

int main(void) {
    main_module();
    inside_io();
    next_tick();
    return 0;
}
