/* Every status code path: NULL pointers (PL_EINVAL), zero, stale, foreign and wrong-kind ids
 * (PL_ENOENT), calls from another thread (PL_EWRONGTHREAD), freeing or running the loop from its
 * own callbacks (PL_EBUSY), a freed loop (PL_ECLOSED), invalid arguments (PL_EINVAL), OS errors
 * (negated errno), a panic (PL_EPANIC), and the names and messages of all of them. Every failing
 * call must take no ownership: its drop function never runs. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void noop(pl_loop *lp, void *data) { (void)lp, (void)data; }
static void noop_io(pl_loop *lp, void *data, int s, int e) { (void)lp, (void)data, (void)s, (void)e; }
static void noop_signal(pl_loop *lp, void *data, int s) { (void)lp, (void)data, (void)s; }
static void noop_work(void *data) { (void)data; }
static void noop_after(pl_loop *lp, void *data, int s) { (void)lp, (void)data, (void)s; }
static void noop_trace(pl_loop *lp, void *data, const pl_trace_event *e) {
    (void)lp, (void)data, (void)e;
}

TEST(null_pointers_are_einval) {
    pl_loop *lp = virtual_loop();
    counted c = {0, 0};
    pl_id id = 0;
    pl_metrics m;
    pl_utilization u;
    pl_delay_stats ds;
    uint64_t p;
    int fd;

    CHECK_STATUS(pl_options_init(NULL), PL_EINVAL);
    CHECK_STATUS(pl_loop_create(NULL, NULL), PL_EINVAL);
    CHECK_STATUS(pl_loop_free(NULL), PL_OK);
    CHECK_STATUS(pl_run(NULL, PL_RUN_DEFAULT), PL_EINVAL);
    CHECK_STATUS(pl_alive(NULL), PL_EINVAL);
    CHECK_STATUS(pl_advance(NULL, 1), PL_EINVAL);
    CHECK_STATUS(pl_backend_fd(NULL), PL_EINVAL);
    CHECK_EQ(pl_backend_timeout(NULL), PL_EINVAL);
    CHECK_STATUS(pl_walk(NULL, NULL, NULL), PL_EINVAL);
    CHECK_STATUS(pl_walk(lp, NULL, NULL), PL_EINVAL);
    CHECK_EQ(pl_now(NULL), 0);
    CHECK_EQ(pl_hrtime(NULL), 0);
    CHECK_EQ(pl_iteration(NULL), 0);
    CHECK_EQ(pl_current_phase(NULL), PL_PHASE_NONE);
    pl_stop(NULL);
    pl_update_time(NULL);

    /* Scheduling: a NULL loop or a NULL callback; the data is never dropped. */
    CHECK_STATUS(pl_set_timeout(NULL, 1, noop, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_set_timeout(lp, 1, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_set_interval(lp, 1, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_set_immediate(NULL, noop, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_set_immediate(lp, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_next_tick(NULL, noop, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_next_tick(lp, NULL, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_queue_microtask(lp, NULL, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_queue_pending(lp, NULL, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_add_idle(lp, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_add_prepare(NULL, noop, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_add_check(lp, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_fd(lp, 0, PL_READABLE, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_signal(lp, SIGUSR1, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_queue_work(lp, NULL, noop_after, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_queue_work(NULL, noop_work, noop_after, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_job_read_file(lp, NULL, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_job_sha256(lp, NULL, 3, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_set_trace(NULL, noop_trace, &c, count_drop), PL_EINVAL);
    CHECK(pl_remote_new(NULL) == NULL);
    CHECK(pl_remote_clone(NULL) == NULL);
    pl_remote_free(NULL);
    CHECK_STATUS(pl_remote_call(NULL, noop, &c, count_drop), PL_EINVAL);
    CHECK_EQ(id, 0);

    /* Out-parameters. */
    CHECK_STATUS(pl_loop_metrics(lp, NULL), PL_EINVAL);
    CHECK_STATUS(pl_loop_metrics(NULL, &m), PL_EINVAL);
    CHECK_STATUS(pl_loop_utilization(lp, NULL), PL_EINVAL);
    CHECK_STATUS(pl_loop_utilization(NULL, &u), PL_EINVAL);
    CHECK_STATUS(pl_utilization_since(&u, NULL, &u), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_stats(lp, NULL), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_stats(NULL, &ds), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_percentile(lp, 50, NULL), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_percentile(NULL, 50, &p), PL_EINVAL);
    CHECK_STATUS(pl_signal_wakeup_fd(lp, NULL), PL_EINVAL);
    CHECK_STATUS(pl_signal_wakeup_fd(NULL, &fd), PL_EINVAL);
    CHECK_EQ(pl_timeline(lp, NULL, 4), PL_EINVAL);
    CHECK_EQ(pl_timeline(lp, NULL, 0), 0);

    CHECK_EQ(c.drops, 0);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(c.drops, 0);
}

/* Calls every id-taking function with `id` and expects PL_ENOENT. */
static void check_all_enoent(pl_loop *lp, pl_id id) {
    counted c = {0, 0};
    CHECK_STATUS(pl_clear_timer(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_timer_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_timer_unref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_timer_has_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_timer_refresh(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_timer_close(lp, id, noop, &c, count_drop), PL_ENOENT);
    CHECK_EQ(pl_timer_active(lp, id), 0);
    CHECK_STATUS(pl_clear_immediate(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_immediate_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_immediate_unref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_immediate_has_ref(lp, id), PL_ENOENT);
    CHECK_EQ(pl_immediate_active(lp, id), 0);
    CHECK_STATUS(pl_handle_start(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_handle_stop(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_handle_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_handle_unref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_handle_has_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_handle_close(lp, id, noop, &c, count_drop), PL_ENOENT);
    CHECK_EQ(pl_handle_active(lp, id), 0);
    CHECK_STATUS(pl_watcher_start(lp, id, PL_READABLE), PL_ENOENT);
    CHECK_STATUS(pl_watcher_stop(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_watcher_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_watcher_unref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_watcher_close(lp, id, noop, &c, count_drop), PL_ENOENT);
    CHECK_EQ(pl_watcher_active(lp, id), 0);
    CHECK_STATUS(pl_signal_start(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_signal_stop(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_signal_ref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_signal_unref(lp, id), PL_ENOENT);
    CHECK_STATUS(pl_signal_close(lp, id, noop, &c, count_drop), PL_ENOENT);
    CHECK_EQ(pl_signal_active(lp, id), 0);
    CHECK_STATUS(pl_cancel_work(lp, id), PL_ENOENT);
    CHECK_EQ(pl_work_pending(lp, id), 0);
    CHECK_EQ(c.drops, 0);
}

TEST(zero_stale_and_foreign_ids_are_enoent) {
    pl_loop *lp = virtual_loop();
    pl_loop *other = virtual_loop();
    pl_id fired, cleared, foreign, handle;
    int fds[2];

    check_all_enoent(lp, 0);
    check_all_enoent(lp, 12345);
    check_all_enoent(lp, ~(pl_id)0);

    /* Stale: a one-shot timer that fired, an immediate that was cleared. */
    CHECK_OK(pl_set_timeout(lp, 1, noop, NULL, NULL, &fired));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    check_all_enoent(lp, fired);
    CHECK_OK(pl_set_immediate(lp, noop, NULL, NULL, &cleared));
    CHECK_OK(pl_clear_immediate(lp, cleared));
    check_all_enoent(lp, cleared);

    /* Foreign: live objects of another loop. */
    CHECK_OK(pl_set_timeout(other, 1, noop, NULL, NULL, &foreign));
    check_all_enoent(lp, foreign);
    CHECK_OK(pl_add_idle(other, noop, NULL, NULL, &foreign));
    check_all_enoent(lp, foreign);

    /* Wrong kind: a live handle's id used as a timer, immediate, watcher ... */
    CHECK_OK(pl_add_check(lp, noop, NULL, NULL, &handle));
    CHECK_STATUS(pl_clear_timer(lp, handle), PL_ENOENT);
    CHECK_STATUS(pl_clear_immediate(lp, handle), PL_ENOENT);
    CHECK_STATUS(pl_watcher_stop(lp, handle), PL_ENOENT);
    CHECK_STATUS(pl_cancel_work(lp, handle), PL_ENOENT);
    CHECK_OK(pl_handle_close(lp, handle, NULL, NULL, NULL));
    check_all_enoent(lp, handle); /* closed: finished at once */

    /* A closed watcher. */
    CHECK(pipe(fds) == 0);
    CHECK_OK(pl_watch_fd(lp, fds[0], PL_READABLE, noop_io, NULL, NULL, &handle));
    CHECK_OK(pl_watcher_close(lp, handle, NULL, NULL, NULL));
    check_all_enoent(lp, handle);
    close(fds[0]);
    close(fds[1]);

    CHECK_OK(pl_loop_free(other));
    CHECK_OK(pl_loop_free(lp));
}

/* ----- the wrong thread ------------------------------------------------------------------------ */

typedef struct foreign_calls {
    pl_loop *lp;
    pl_id timer;
    counted c;
    int done;
} foreign_calls;

static void *call_from_another_thread(void *arg) {
    foreign_calls *f = arg;
    pl_id id = 0;
    CHECK_STATUS(pl_set_timeout(f->lp, 1, noop, &f->c, count_drop, &id), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_set_immediate(f->lp, noop, &f->c, count_drop, &id), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_next_tick(f->lp, noop, &f->c, count_drop), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_add_idle(f->lp, noop, &f->c, count_drop, &id), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_queue_work(f->lp, noop_work, noop_after, &f->c, count_drop, &id),
                 PL_EWRONGTHREAD);
    CHECK_STATUS(pl_set_trace(f->lp, noop_trace, &f->c, count_drop), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_clear_timer(f->lp, f->timer), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_timer_has_ref(f->lp, f->timer), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_timer_active(f->lp, f->timer), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_run(f->lp, PL_RUN_NOWAIT), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_alive(f->lp), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_loop_free(f->lp), PL_EWRONGTHREAD);
    CHECK_EQ(pl_backend_timeout(f->lp), PL_EWRONGTHREAD);
    CHECK_EQ(pl_timeline(f->lp, NULL, 0), PL_EWRONGTHREAD);
    CHECK_EQ(pl_now(f->lp), 0);
    CHECK_EQ(pl_current_phase(f->lp), PL_PHASE_NONE);
    CHECK(pl_remote_new(f->lp) == NULL);
    pl_stop(f->lp); /* does nothing from here */
    CHECK_EQ(id, 0);
    f->done = 1;
    return NULL;
}

TEST(another_thread_gets_ewrongthread_and_changes_nothing) {
    foreign_calls f;
    pthread_t thread;
    memset(&f, 0, sizeof f);
    f.lp = virtual_loop();
    CHECK_OK(pl_set_timeout(f.lp, 10, count_run, &f.c, count_drop, &f.timer));
    CHECK(pthread_create(&thread, NULL, call_from_another_thread, &f) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_EQ(f.done, 1);
    CHECK_EQ(f.c.drops, 0);
    /* The loop is untouched: its timer still fires, once. */
    CHECK_EQ(pl_timer_active(f.lp, f.timer), 1);
    CHECK_EQ(pl_run(f.lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(f.c.runs, 1);
    CHECK_OK(pl_loop_free(f.lp));
    CHECK_EQ(f.c.drops, 0);
}

/* A loop whose thread exited belongs to no thread: a thread started afterwards often gets the
 * exited one's thread control block (glibc reuses thread stacks), and must still be refused. The
 * loop cannot be freed by anyone now (only its own thread may free it), so it stays allocated,
 * reachable from this global. */
static pl_loop *orphan;

static void *create_and_exit(void *arg) {
    (void)arg;
    orphan = pl_loop_new(NULL);
    return NULL;
}

static void *call_the_orphan(void *arg) {
    counted *c = arg;
    pl_id id = 0;
    CHECK_STATUS(pl_set_immediate(orphan, noop, c, count_drop, &id), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_set_timeout(orphan, 1, noop, c, count_drop, &id), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_run(orphan, PL_RUN_NOWAIT), PL_EWRONGTHREAD);
    CHECK_STATUS(pl_loop_free(orphan), PL_EWRONGTHREAD);
    CHECK_EQ(id, 0);
    return NULL;
}

TEST(a_thread_started_after_the_loops_thread_exited_gets_ewrongthread) {
    counted c;
    memset(&c, 0, sizeof c);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, create_and_exit, NULL) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(orphan != NULL);
    for (int round = 0; round < 4; round++) {
        CHECK(pthread_create(&thread, NULL, call_the_orphan, &c) == 0);
        CHECK(pthread_join(thread, NULL) == 0);
    }
    call_the_orphan(&c); /* and the main thread */
    CHECK_EQ(c.drops, 0);
    CHECK_EQ(c.runs, 0);
}

/* ----- PL_EBUSY: the loop's own callbacks ------------------------------------------------------ */

static void free_and_run_inside(pl_loop *lp, void *data) {
    (void)data;
    CHECK_STATUS(pl_loop_free(lp), PL_EBUSY);
    CHECK_STATUS(pl_run(lp, PL_RUN_NOWAIT), PL_EBUSY);
    log_push("callback");
}

static pl_loop *drop_target;

static void free_inside_drop(void *data) {
    (void)data;
    CHECK_STATUS(pl_loop_free(drop_target), PL_EBUSY);
    CHECK_STATUS(pl_run(drop_target, PL_RUN_NOWAIT), PL_EBUSY);
    log_push("drop");
}

static void free_inside_trace(pl_loop *lp, void *data, const pl_trace_event *e) {
    (void)data, (void)e;
    CHECK_STATUS(pl_loop_free(lp), PL_EBUSY);
}

TEST(freeing_or_running_the_loop_from_its_own_callbacks_is_ebusy) {
    pl_loop *lp = virtual_loop();
    pl_id t;
    CHECK_OK(pl_set_immediate(lp, free_and_run_inside, NULL, NULL, NULL));
    CHECK_OK(pl_next_tick(lp, free_and_run_inside, NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 5, free_and_run_inside, NULL, NULL, NULL));
    CHECK_OK(pl_set_trace(lp, free_inside_trace, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("callback callback callback");
    CHECK_OK(pl_set_trace(lp, NULL, NULL, NULL));
    /* A drop function run by pl_clear_timer is inside a pl_ call too. */
    drop_target = lp;
    CHECK_OK(pl_set_timeout(lp, 5, noop, NULL, free_inside_drop, &t));
    CHECK_OK(pl_clear_timer(lp, t));
    CHECK_LOG("callback callback callback drop");
    CHECK_OK(pl_loop_free(lp));
}

/* ----- PL_ECLOSED: a loop being freed, a remote of a freed loop ------------------------------- */

static counted late;

static void schedule_while_freeing(void *data) {
    pl_loop *lp = data;
    pl_id id = 0;
    CHECK_STATUS(pl_set_timeout(lp, 1, noop, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_set_interval(lp, 1, noop, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_set_immediate(lp, noop, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_next_tick(lp, noop, &late, count_drop), PL_ECLOSED);
    CHECK_STATUS(pl_queue_microtask(lp, noop, &late, count_drop), PL_ECLOSED);
    CHECK_STATUS(pl_queue_pending(lp, noop, &late, count_drop), PL_ECLOSED);
    CHECK_STATUS(pl_add_check(lp, noop, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_watch_fd(lp, 0, PL_READABLE, noop_io, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_watch_signal(lp, SIGUSR2, noop_signal, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_queue_work(lp, noop_work, noop_after, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_job_sleep(lp, 1, NULL, &late, count_drop, &id), PL_ECLOSED);
    CHECK_STATUS(pl_set_trace(lp, noop_trace, &late, count_drop), PL_ECLOSED);
    CHECK_STATUS(pl_run(lp, PL_RUN_NOWAIT), PL_EBUSY);
    CHECK_STATUS(pl_advance(lp, 1), PL_ECLOSED);
    CHECK(pl_remote_new(lp) == NULL);
    CHECK_EQ(id, 0);
    log_push("dropped");
}

TEST(a_loop_being_freed_answers_eclosed) {
    pl_loop *lp = virtual_loop();
    pl_remote *remote = pl_remote_new(lp);
    counted c = {0, 0};
    CHECK(remote != NULL);
    memset(&late, 0, sizeof late);
    CHECK_OK(pl_set_timeout(lp, 100, noop, lp, schedule_while_freeing, NULL));
    CHECK_OK(pl_loop_free(lp));
    CHECK_LOG("dropped");
    CHECK_EQ(late.drops, 0);
    /* The remote outlives its loop and refuses calls, keeping the caller's data. */
    CHECK_STATUS(pl_remote_call(remote, count_run, &c, count_drop), PL_ECLOSED);
    CHECK_STATUS(pl_remote_call(remote, NULL, &c, count_drop), PL_EINVAL);
    CHECK_EQ(c.runs, 0);
    CHECK_EQ(c.drops, 0);
    pl_remote_free(remote);
}

/* ----- PL_EINVAL: arguments ---------------------------------------------------------------------- */

TEST(invalid_arguments_are_einval) {
    pl_options opts;
    pl_loop *lp = NULL;
    pl_loop *real;
    pl_id id = 0;
    counted c = {0, 0};
    uint64_t p;
    uint8_t byte = 0;

    CHECK_OK(pl_options_init(&opts));
    opts.size = 0;
    CHECK_STATUS(pl_loop_create(&opts, &lp), PL_EINVAL);
    CHECK(pl_loop_new(&opts) == NULL);
    CHECK_OK(pl_options_init(&opts));
    opts.clock = 2;
    CHECK_STATUS(pl_loop_create(&opts, &lp), PL_EINVAL);
    CHECK_OK(pl_options_init(&opts));
    opts.drain = -1;
    CHECK_STATUS(pl_loop_create(&opts, &lp), PL_EINVAL);
    CHECK_OK(pl_options_init(&opts));
    opts.threadpool_size = 1025;
    CHECK_STATUS(pl_loop_create(&opts, &lp), PL_EINVAL);
    CHECK(lp == NULL);
    opts.threadpool_size = 1024;
    CHECK_OK(pl_loop_create(&opts, &lp));
    CHECK_OK(pl_loop_free(lp));

    lp = virtual_loop();
    CHECK_STATUS(pl_run(lp, 3), PL_EINVAL);
    CHECK_STATUS(pl_run(lp, -1), PL_EINVAL);
    CHECK_STATUS(pl_watch_fd(lp, -1, PL_READABLE, noop_io, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_fd(lp, 0, 0, noop_io, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_fd(lp, 0, 4, noop_io, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_signal(lp, SIGKILL, noop_signal, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_watch_signal(lp, 0, noop_signal, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_job_pbkdf2(lp, &byte, 1, &byte, 1, 0, 32, PL_DIGEST_SHA256, NULL, &c,
                               count_drop, &id),
                 PL_EINVAL);
    CHECK_STATUS(pl_job_pbkdf2(lp, &byte, 1, &byte, 1, 1, 32, 7, NULL, &c, count_drop, &id),
                 PL_EINVAL);
    CHECK_STATUS(pl_job_pbkdf2(lp, &byte, 1, &byte, 1, 1, 0, PL_DIGEST_SHA512, NULL, &c,
                               count_drop, &id),
                 PL_EINVAL);
    CHECK_STATUS(pl_job_deflate(lp, &byte, 1, 10, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_job_deflate(lp, &byte, 1, -1, NULL, &c, count_drop, &id), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_percentile(lp, 100.5, &p), PL_EINVAL);
    CHECK_STATUS(pl_delay_monitor_percentile(lp, NAN, &p), PL_EINVAL);
    CHECK(pl_phase_name(8) == NULL);
    CHECK(pl_kind_name(0) == NULL);
    CHECK_STR(pl_kind_name(PL_KIND_CONNECTION), "connection");
    CHECK_STR(pl_kind_name(PL_KIND_UDP), "udp");
    CHECK_STR(pl_kind_name(PL_KIND_EXIT), "exit");
    CHECK(pl_kind_name(PL_KIND_EXIT + 1) == NULL);
    CHECK_EQ(id, 0);
    CHECK_EQ(c.drops, 0);
    CHECK_OK(pl_loop_free(lp));

    /* pl_advance needs the virtual clock. */
    real = pl_loop_new(NULL);
    CHECK(real != NULL);
    CHECK_STATUS(pl_advance(real, 5), PL_EINVAL);
    CHECK_OK(pl_loop_free(real));
}

/* ----- errors of the operating system ---------------------------------------------------------- */

TEST(os_errors_are_negated_errno) {
    pl_loop *lp = virtual_loop();
    pl_id id = 0;
    counted c = {0, 0};
    char path[] = "/tmp/phaseloop-status-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    /* epoll cannot watch a regular file. */
    CHECK_STATUS(pl_watch_fd(lp, fd, PL_READABLE, noop_io, &c, count_drop, &id), -EPERM);
    CHECK_EQ(c.drops, 0);
    CHECK_STR(pl_status_name(-EPERM), "PL_EOS");
    CHECK_STR(pl_strerror(-EPERM), "Operation not permitted");
    CHECK(pl_strerror(-EPERM) == pl_strerror(-EPERM)); /* cached, stable */
    close(fd);
    unlink(path);
    /* A closed fd: EBADF, as Python's OSError.errno says for the same call. */
    {
        int fds[2];
        CHECK(pipe(fds) == 0);
        close(fds[0]);
        close(fds[1]);
        CHECK_STATUS(pl_watch_fd(lp, fds[0], PL_READABLE, noop_io, &c, count_drop, &id), -EBADF);
        CHECK_EQ(c.drops, 0);
        CHECK_STR(pl_strerror(-EBADF), "Bad file descriptor");
    }
    CHECK_OK(pl_loop_free(lp));
}

/* ----- PL_EPANIC --------------------------------------------------------------------------------- */

TEST(a_panic_inside_the_library_comes_back_as_epanic) {
    /* The library panics on purpose; Rust prints the message to stderr and the guard returns. */
    CHECK_STATUS(pl_selftest_panic(), PL_EPANIC);
    CHECK_STATUS(pl_selftest_panic(), PL_EPANIC);
    /* And the process goes on using the library normally. */
    {
        pl_loop *lp = virtual_loop();
        CHECK_OK(pl_set_immediate(lp, log_cb, "after-panic", NULL, NULL));
        CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
        CHECK_LOG("after-panic");
        CHECK_OK(pl_loop_free(lp));
    }
}

/* ----- names and messages -------------------------------------------------------------------------- */

TEST(every_status_has_a_name_and_a_distinct_message) {
    static const struct {
        int code;
        const char *name;
    } codes[] = {
        {PL_OK, "PL_OK"},           {PL_ENOENT, "PL_ENOENT"},
        {PL_EIO, "PL_EIO"},         {PL_ENOMEM, "PL_ENOMEM"},
        {PL_EBUSY, "PL_EBUSY"},     {PL_EINVAL, "PL_EINVAL"},
        {PL_ECANCELED, "PL_ECANCELED"}, {PL_ECLOSED, "PL_ECLOSED"},
        {PL_EWRONGTHREAD, "PL_EWRONGTHREAD"}, {PL_EPANIC, "PL_EPANIC"},
        {PL_EAI_NONAME, "PL_EAI_NONAME"}, {PL_EAI_AGAIN, "PL_EAI_AGAIN"},
        {PL_EAI_FAIL, "PL_EAI_FAIL"},
    };
    size_t i, j, n = sizeof codes / sizeof codes[0];
    for (i = 0; i < n; i++) {
        CHECK_STR(pl_status_name(codes[i].code), codes[i].name);
        CHECK(pl_strerror(codes[i].code) != NULL);
        CHECK(strlen(pl_strerror(codes[i].code)) > 0);
        for (j = 0; j < i; j++) CHECK(strcmp(pl_strerror(codes[i].code), pl_strerror(codes[j].code)) != 0);
    }
    /* The errno-style values. */
    CHECK_EQ(PL_ENOENT, -ENOENT);
    CHECK_EQ(PL_EINVAL, -EINVAL);
    CHECK_EQ(PL_EBUSY, -EBUSY);
    CHECK_EQ(PL_ECANCELED, -ECANCELED);
    /* The errno names of UDP and child processes. */
    CHECK_EQ(PL_ESRCH, -ESRCH);
    CHECK_EQ(PL_EMSGSIZE, -EMSGSIZE);
    CHECK_EQ(PL_EDESTADDRREQ, -EDESTADDRREQ);
    CHECK_EQ(PL_EISCONN, -EISCONN);
    CHECK_STR(pl_status_name(-ESRCH), "PL_ESRCH");
    CHECK_STR(pl_status_name(-EMSGSIZE), "PL_EMSGSIZE");
    CHECK_STR(pl_status_name(-EDESTADDRREQ), "PL_EDESTADDRREQ");
    CHECK_STR(pl_status_name(-EISCONN), "PL_EISCONN");
    CHECK_STR(pl_status_name(7), "PL_EUNKNOWN");
    CHECK_STR(pl_strerror(7), "unknown status code");
    CHECK(strstr(pl_strerror(PL_EPANIC), "panic") != NULL);
}

int main(void) {
    RUN(null_pointers_are_einval);
    RUN(zero_stale_and_foreign_ids_are_enoent);
    RUN(another_thread_gets_ewrongthread_and_changes_nothing);
    RUN(a_thread_started_after_the_loops_thread_exited_gets_ewrongthread);
    RUN(freeing_or_running_the_loop_from_its_own_callbacks_is_ebusy);
    RUN(a_loop_being_freed_answers_eclosed);
    RUN(invalid_arguments_are_einval);
    RUN(os_errors_are_negated_errno);
    RUN(a_panic_inside_the_library_comes_back_as_epanic);
    RUN(every_status_has_a_name_and_a_distinct_message);
    return 0;
}
