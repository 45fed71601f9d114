/*
 * libuv's side of the C benchmarks: the same workloads as pl_bench.c, written the way libuv
 * users write them. Where libuv has no direct equivalent, the program builds what Node and
 * libuv users build:
 * - immediates: a FIFO of (callback, data) run from a check handle, with an idle handle started
 *   while the FIFO is not empty so that poll does not block (Node's setImmediate does this);
 * - cross-thread calls: a mutex-protected FIFO drained by a uv_async_t callback, because
 *   uv_async_send coalesces sends and so cannot carry one callback per call.
 * Usage: uv_bench WORKLOAD N [THREADS] (see bench.h).
 */
#include "bench.h"

#include <pthread.h>

#include <uv.h>

static void expect_uv(const char *what, int status) {
    if (status < 0) {
        fprintf(stderr, "%s failed: %s\n", what, uv_strerror(status));
        exit(1);
    }
}

static uv_loop_t *new_loop(void) {
    uv_loop_t *loop = malloc(sizeof *loop);
    expect_uv("uv_loop_init", uv_loop_init(loop));
    return loop;
}

static void free_loop(uv_loop_t *loop) {
    /* Closes what a workload left (an unref'd handle), then frees the loop. */
    uv_run(loop, UV_RUN_DEFAULT);
    expect_uv("uv_loop_close", uv_loop_close(loop));
    free(loop);
}

/* ----- a million timers, delays i % 1000 -------------------------------------------------- */

static uint64_t timer_count;

static void timer_cb(uv_timer_t *timer) {
    (void)timer;
    timer_count++;
}

static void timers(uint64_t n, unsigned threads) {
    (void)threads;
    uv_loop_t *loop = new_loop();
    /* As libuv's own benchmark-million-timers.c: the handles are allocated before timing, and
     * "start" is uv_timer_init + uv_timer_start of each (the first touch of the handles' memory
     * happens there, as phaseloop's own allocation happens in pl_set_timeout). */
    uv_timer_t *handles = malloc(n * sizeof *handles);
    timer_count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_uv("uv_timer_init", uv_timer_init(loop, &handles[i]));
        expect_uv("uv_timer_start", uv_timer_start(&handles[i], timer_cb, i % 1000, 0));
    }
    uint64_t t1 = wall_ns(), c1 = cpu_ns();
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t2 = wall_ns(), c2 = cpu_ns();
    expect_count("timers", timer_count, n);
    report("start", t1 - t0, n);
    report("run_cpu", c2 - c1, n);
    report("run_wall", t2 - t1, n);
    for (uint64_t i = 0; i < n; i++) uv_close((uv_handle_t *)&handles[i], NULL);
    free_loop(loop);
    free(handles);
}

/* ----- loop iterations with an idle handle ------------------------------------------------ */

static uint64_t idle_count, idle_n;

static void idle_cb(uv_idle_t *idle) {
    if (++idle_count == idle_n) uv_idle_stop(idle);
}

static void loop_count(uint64_t n, unsigned threads) {
    (void)threads;
    uv_loop_t *loop = new_loop();
    uv_idle_t idle;
    idle_count = 0;
    idle_n = n;
    expect_uv("uv_idle_init", uv_idle_init(loop, &idle));
    expect_uv("uv_idle_start", uv_idle_start(&idle, idle_cb));
    uint64_t t0 = wall_ns();
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("loop_count", idle_count, n);
    report("iteration", t1 - t0, n);
    uv_close((uv_handle_t *)&idle, NULL);
    free_loop(loop);
}

/* ----- check-phase callbacks: a FIFO run from a check handle ---------------------------------- */

typedef void (*task_fn)(void *data);

typedef struct {
    task_fn fn;
    void *data;
} task;

/* Node's setImmediate shape: tasks queued during the check phase wait for the next one. */
typedef struct {
    uv_check_t check;
    uv_idle_t idle;
    task *queued, *running;
    size_t len, cap, running_cap;
} immediate_queue;

static immediate_queue imq;

static void idle_noop(uv_idle_t *idle) { (void)idle; }

static void immediate_push(task_fn fn, void *data) {
    if (imq.len == imq.cap) {
        imq.cap = imq.cap ? imq.cap * 2 : 64;
        imq.queued = realloc(imq.queued, imq.cap * sizeof(task));
    }
    imq.queued[imq.len++] = (task){fn, data};
    if (imq.len == 1) uv_idle_start(&imq.idle, idle_noop);
}

static void immediate_check_cb(uv_check_t *check) {
    (void)check;
    size_t n = imq.len;
    if (n == 0) return;
    /* Swap the buffers: what the tasks queue now goes to the next check phase. */
    task *batch = imq.queued;
    size_t batch_cap = imq.cap;
    imq.queued = imq.running;
    imq.cap = imq.running_cap;
    imq.running = batch;
    imq.running_cap = batch_cap;
    imq.len = 0;
    for (size_t i = 0; i < n; i++) batch[i].fn(batch[i].data);
    if (imq.len == 0) uv_idle_stop(&imq.idle);
}

static void immediate_queue_init(uv_loop_t *loop) {
    memset(&imq, 0, sizeof imq);
    expect_uv("uv_check_init", uv_check_init(loop, &imq.check));
    expect_uv("uv_check_start", uv_check_start(&imq.check, immediate_check_cb));
    /* The check handle never keeps the loop alive; the idle handle does while tasks wait. */
    uv_unref((uv_handle_t *)&imq.check);
    expect_uv("uv_idle_init", uv_idle_init(loop, &imq.idle));
}

static void immediate_queue_close(void) {
    uv_close((uv_handle_t *)&imq.check, NULL);
    uv_close((uv_handle_t *)&imq.idle, NULL);
}

static void count_task(void *data) { ++*(uint64_t *)data; }

static void immediates_flat(uint64_t n, unsigned threads) {
    (void)threads;
    uv_loop_t *loop = new_loop();
    immediate_queue_init(loop);
    uint64_t count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) immediate_push(count_task, &count);
    uint64_t t1 = wall_ns();
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t2 = wall_ns();
    expect_count("immediates_flat", count, n);
    report("total", t2 - t0, n);
    report("schedule", t1 - t0, n);
    report("run", t2 - t1, n);
    immediate_queue_close();
    free_loop(loop);
    free(imq.queued);
    free(imq.running);
}

static uint64_t chain_left;

static void chain_task(void *data) {
    ++*(uint64_t *)data;
    if (--chain_left > 0) immediate_push(chain_task, data);
}

static void immediates_chain(uint64_t n, unsigned threads) {
    (void)threads;
    uv_loop_t *loop = new_loop();
    immediate_queue_init(loop);
    uint64_t count = 0;
    chain_left = n;
    uint64_t t0 = wall_ns();
    immediate_push(chain_task, &count);
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("immediates_chain", count, n);
    report("callback", t1 - t0, n);
    immediate_queue_close();
    free_loop(loop);
    free(imq.queued);
    free(imq.running);
}

/* ----- timer start + stop pairs --------------------------------------------------------------- */

static void timer_start_stop(uint64_t n, unsigned threads) {
    (void)threads;
    uv_loop_t *loop = new_loop();
    uv_timer_t timer;
    expect_uv("uv_timer_init", uv_timer_init(loop, &timer));
    timer_count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_uv("uv_timer_start", uv_timer_start(&timer, timer_cb, i % 1000, 0));
        expect_uv("uv_timer_stop", uv_timer_stop(&timer));
    }
    uint64_t t1 = wall_ns();
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    expect_count("timer_start_stop", timer_count, 0);
    report("pair", t1 - t0, n);
    uv_close((uv_handle_t *)&timer, NULL);
    free_loop(loop);
}

/* ----- queue_work round trips with no-op jobs ------------------------------------------------ */

static uint64_t work_count;

static void noop_work(uv_work_t *req) { (void)req; }

static void after_work_cb(uv_work_t *req, int status) {
    (void)req;
    if (status == 0) work_count++;
}

/* libuv's pool is process-wide and sized once, from the environment, on first use. */
static void set_pool_size(unsigned pool) {
    char size[16];
    snprintf(size, sizeof size, "%u", pool);
    setenv("UV_THREADPOOL_SIZE", size, 1);
}

static void work_batch(uint64_t n, unsigned pool) {
    set_pool_size(pool);
    uv_loop_t *loop = new_loop();
    uv_work_t *reqs = calloc(n, sizeof *reqs);
    work_count = 0;
    uint64_t t0 = wall_ns();
    for (uint64_t i = 0; i < n; i++) {
        expect_uv("uv_queue_work", uv_queue_work(loop, &reqs[i], noop_work, after_work_cb));
    }
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("work_batch", work_count, n);
    report("job", t1 - t0, n);
    free_loop(loop);
    free(reqs);
}

static void chain_after_work_cb(uv_work_t *req, int status) {
    if (status == 0) work_count++;
    if (--chain_left > 0) uv_queue_work(req->loop, req, noop_work, chain_after_work_cb);
}

static void work_chain(uint64_t n, unsigned pool) {
    set_pool_size(pool);
    uv_loop_t *loop = new_loop();
    uv_work_t req;
    work_count = 0;
    chain_left = n;
    uint64_t t0 = wall_ns();
    expect_uv("uv_queue_work", uv_queue_work(loop, &req, noop_work, chain_after_work_cb));
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    expect_count("work_chain", work_count, n);
    report("round_trip", t1 - t0, n);
    free_loop(loop);
}

/* ----- cross-thread calls: uv_async_t plus a mutex-protected FIFO ---------------------------- */

typedef struct {
    uv_async_t async;
    uv_mutex_t lock;
    task *queued, *running;
    size_t len, cap, running_cap;
    uint64_t count, n;
} call_queue;

static call_queue cq;

static void remote_task(void *data) {
    /* The last call ends the run; the async handle is closed once the senders are joined (a
     * send racing with uv_close would touch a closing handle). */
    if (++cq.count == cq.n) uv_stop(data);
}

static void call_queue_push(task_fn fn, void *data) {
    uv_mutex_lock(&cq.lock);
    if (cq.len == cq.cap) {
        cq.cap = cq.cap ? cq.cap * 2 : 64;
        cq.queued = realloc(cq.queued, cq.cap * sizeof(task));
    }
    cq.queued[cq.len++] = (task){fn, data};
    uv_mutex_unlock(&cq.lock);
    uv_async_send(&cq.async);
}

static void call_queue_async_cb(uv_async_t *async) {
    (void)async;
    uv_mutex_lock(&cq.lock);
    task *batch = cq.queued;
    size_t n = cq.len, batch_cap = cq.cap;
    cq.queued = cq.running;
    cq.cap = cq.running_cap;
    cq.running = batch;
    cq.running_cap = batch_cap;
    cq.len = 0;
    uv_mutex_unlock(&cq.lock);
    for (size_t i = 0; i < n; i++) batch[i].fn(batch[i].data);
}

typedef struct {
    uv_loop_t *loop;
    uint64_t calls;
} sender;

static void *send_calls(void *arg) {
    sender *s = arg;
    for (uint64_t i = 0; i < s->calls; i++) call_queue_push(remote_task, s->loop);
    return NULL;
}

static void remote_calls(uint64_t n, unsigned threads) {
    uv_loop_t *loop = new_loop();
    memset(&cq, 0, sizeof cq);
    if (threads > 64) threads = 64;
    uint64_t per_thread = n / threads;
    cq.n = per_thread * threads;
    expect_uv("uv_mutex_init", uv_mutex_init(&cq.lock));
    /* The async handle keeps the loop alive until the last call stops it. */
    expect_uv("uv_async_init", uv_async_init(loop, &cq.async, call_queue_async_cb));
    pthread_t tids[64];
    sender s = {loop, per_thread};
    uint64_t t0 = wall_ns();
    for (unsigned i = 0; i < threads; i++) pthread_create(&tids[i], NULL, send_calls, &s);
    expect_uv("uv_run", uv_run(loop, UV_RUN_DEFAULT));
    uint64_t t1 = wall_ns();
    for (unsigned i = 0; i < threads; i++) pthread_join(tids[i], NULL);
    expect_count("remote_calls", cq.count, cq.n);
    report("call", t1 - t0, cq.n);
    uv_close((uv_handle_t *)&cq.async, NULL);
    free_loop(loop);
    uv_mutex_destroy(&cq.lock);
    free(cq.queued);
    free(cq.running);
}

int main(int argc, char **argv) {
    static const workload table[] = {
        {"timers", timers},
        {"loop_count", loop_count},
        {"immediates_flat", immediates_flat},
        {"immediates_chain", immediates_chain},
        {"timer_start_stop", timer_start_stop},
        {"work_batch", work_batch},
        {"work_chain", work_chain},
        {"remote_calls", remote_calls},
    };
    return bench_main(argc, argv, table, sizeof table / sizeof table[0]);
}
