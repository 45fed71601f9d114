/*
 * phaseloop's side of the C benchmarks: the workloads of libuv's own benchmark suite, written
 * with the phaseloop C API. uv_bench.c is the same workloads with libuv; bench/report.py runs
 * both and prints the ratios. Usage: pl_bench WORKLOAD N [THREADS] (see bench.h).
 */
#include "bench.h"

#include <pthread.h>

#include <phaseloop.h>

static pl_loop *new_loop(unsigned pool_size) {
    pl_options opts;
    expect_ok("pl_options_init", pl_options_init(&opts));
    opts.threadpool_size = pool_size;
    pl_loop *lp = pl_loop_new(&opts);
    if (lp == NULL) {
        fprintf(stderr, "pl_loop_new failed\n");
        exit(1);
    }
    return lp;
}

static void count_cb(pl_loop *lp, void *data) {
    (void)lp;
    ++*(uint64_t *)data;
}

/* ----- a million timers, delays i % 1000 -------------------------------------------------- */

static void timers(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    uint64_t count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_ok("pl_set_timeout", pl_set_timeout(lp, (double)(i % 1000), count_cb, &count, NULL, NULL));
    }
    uint64_t t1 = wall_ns(), c1 = cpu_ns();
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t2 = wall_ns(), c2 = cpu_ns();
    expect_count("timers", count, n);
    report("start", t1 - t0, n);
    report("run_cpu", c2 - c1, n);
    report("run_wall", t2 - t1, n);
    pl_loop_free(lp);
}

/* ----- loop iterations with an idle handle ------------------------------------------------ */

typedef struct {
    pl_id handle;
    uint64_t count, n;
} idle_state;

static void idle_cb(pl_loop *lp, void *data) {
    idle_state *s = data;
    if (++s->count == s->n) pl_handle_stop(lp, s->handle);
}

static void loop_count(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    idle_state s = {0, 0, n};
    expect_ok("pl_add_idle", pl_add_idle(lp, idle_cb, &s, NULL, &s.handle));
    uint64_t t0 = wall_ns();
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("loop_count", s.count, n);
    report("iteration", t1 - t0, n);
    pl_loop_free(lp);
}

/* ----- check-phase callbacks: immediates ---------------------------------------------------- */

static void immediates_flat(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    uint64_t count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_ok("pl_set_immediate", pl_set_immediate(lp, count_cb, &count, NULL, NULL));
    }
    uint64_t t1 = wall_ns();
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t2 = wall_ns();
    expect_count("immediates_flat", count, n);
    report("total", t2 - t0, n);
    report("schedule", t1 - t0, n);
    report("run", t2 - t1, n);
    pl_loop_free(lp);
}

static uint64_t chain_left;

static void chain_cb(pl_loop *lp, void *data) {
    ++*(uint64_t *)data;
    if (--chain_left > 0) pl_set_immediate(lp, chain_cb, data, NULL, NULL);
}

static void immediates_chain(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    uint64_t count = 0;
    chain_left = n;
    uint64_t t0 = wall_ns();
    expect_ok("pl_set_immediate", pl_set_immediate(lp, chain_cb, &count, NULL, NULL));
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("immediates_chain", count, n);
    report("callback", t1 - t0, n);
    pl_loop_free(lp);
}

/* ----- a next-tick chain (no libuv counterpart: for the comparison with Node) ---------------- */

static void tick_cb(pl_loop *lp, void *data) {
    ++*(uint64_t *)data;
    if (--chain_left > 0) pl_next_tick(lp, tick_cb, data, NULL);
}

static void tick_chain(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    uint64_t count = 0;
    chain_left = n;
    uint64_t t0 = wall_ns();
    expect_ok("pl_next_tick", pl_next_tick(lp, tick_cb, &count, NULL));
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("tick_chain", count, n);
    report("callback", t1 - t0, n);
    pl_loop_free(lp);
}

/* ----- timer start + stop pairs --------------------------------------------------------------- */

static void timer_start_stop(uint64_t n, unsigned threads) {
    (void)threads;
    pl_loop *lp = new_loop(0);
    uint64_t count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        pl_id timer;
        expect_ok("pl_set_timeout", pl_set_timeout(lp, (double)(i % 1000), count_cb, &count, NULL, &timer));
        expect_ok("pl_clear_timer", pl_clear_timer(lp, timer));
    }
    uint64_t t1 = wall_ns();
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    expect_count("timer_start_stop", count, 0);
    report("pair", t1 - t0, n);
    pl_loop_free(lp);
}

/* ----- queue_work round trips with no-op jobs ------------------------------------------------ */

static void noop_work(void *data) { (void)data; }

static void after_work_cb(pl_loop *lp, void *data, int status) {
    (void)lp;
    if (status == 0) ++*(uint64_t *)data;
}

static void work_batch(uint64_t n, unsigned pool) {
    pl_loop *lp = new_loop(pool);
    uint64_t count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_ok("pl_queue_work", pl_queue_work(lp, noop_work, after_work_cb, &count, NULL, NULL));
    }
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("work_batch", count, n);
    report("job", t1 - t0, n);
    pl_loop_free(lp);
}

static void chain_after_work_cb(pl_loop *lp, void *data, int status) {
    if (status == 0) ++*(uint64_t *)data;
    if (--chain_left > 0) pl_queue_work(lp, noop_work, chain_after_work_cb, data, NULL, NULL);
}

static void work_chain(uint64_t n, unsigned pool) {
    pl_loop *lp = new_loop(pool);
    uint64_t count = 0;
    chain_left = n;
    uint64_t t0 = wall_ns();
    expect_ok("pl_queue_work", pl_queue_work(lp, noop_work, chain_after_work_cb, &count, NULL, NULL));
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("work_chain", count, n);
    report("round_trip", t1 - t0, n);
    pl_loop_free(lp);
}

/* ----- cross-thread calls, every one delivered ------------------------------------------------ */

typedef struct {
    pl_remote *remote;
    uint64_t calls;
} sender;

typedef struct {
    uint64_t count, n;
    pl_id keepalive;
} remote_state;

static remote_state remote_st;

static void remote_cb(pl_loop *lp, void *data) {
    (void)data;
    /* The keep-alive timer stands for "the loop waits for other threads" (a remote alone does
     * not keep a loop alive); the last call lets the loop end. */
    if (++remote_st.count == remote_st.n) pl_clear_timer(lp, remote_st.keepalive);
}

static void *send_calls(void *arg) {
    sender *s = arg;
    for (uint64_t i = 0; i < s->calls; i++) {
        expect_ok("pl_remote_call", pl_remote_call(s->remote, remote_cb, NULL, NULL));
    }
    return NULL;
}

static void remote_calls(uint64_t n, unsigned threads) {
    pl_loop *lp = new_loop(0);
    remote_st.count = 0;
    remote_st.n = n / threads * threads;
    uint64_t never = 0;
    expect_ok("pl_set_timeout", pl_set_timeout(lp, 1e9, count_cb, &never, NULL, &remote_st.keepalive));
    pl_remote *remote = pl_remote_new(lp);
    sender senders[64];
    pthread_t tids[64];
    if (threads > 64) threads = 64;
    uint64_t t0 = wall_ns();
    for (unsigned i = 0; i < threads; i++) {
        senders[i].remote = remote;
        senders[i].calls = n / threads;
        pthread_create(&tids[i], NULL, send_calls, &senders[i]);
    }
    expect_ok("pl_run", pl_run(lp, PL_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    for (unsigned i = 0; i < threads; i++) pthread_join(tids[i], NULL);
    expect_count("remote_calls", remote_st.count, remote_st.n);
    report("call", t1 - t0, remote_st.n);
    pl_remote_free(remote);
    pl_loop_free(lp);
}

int main(int argc, char **argv) {
    static const workload table[] = {
        {"timers", timers},
        {"loop_count", loop_count},
        {"immediates_flat", immediates_flat},
        {"immediates_chain", immediates_chain},
        {"tick_chain", tick_chain},
        {"timer_start_stop", timer_start_stop},
        {"work_batch", work_batch},
        {"work_chain", work_chain},
        {"remote_calls", remote_calls},
    };
    return bench_main(argc, argv, table, sizeof table / sizeof table[0]);
}
