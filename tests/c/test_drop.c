/* Drop functions run exactly once, when the loop lets go of data whose callback will not run
 * (again): cleared, closed, cancelled, or the loop freed; never for a one-shot callback that ran
 * (it owns its data from then on), and never when a call fails. */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void noop_io(pl_loop *lp, void *data, int s, int e) { (void)lp, (void)data, (void)s, (void)e; }

TEST(timeouts) {
    pl_loop *lp = virtual_loop();
    counted fired = {0, 0}, cleared = {0, 0}, pending = {0, 0}, closed = {0, 0}, close_cb = {0, 0};
    pl_id id;
    CHECK_OK(pl_set_timeout(lp, 1, count_run, &fired, count_drop, NULL));
    CHECK_OK(pl_set_timeout(lp, 1, count_run, &cleared, count_drop, &id));
    CHECK_OK(pl_clear_timer(lp, id));
    CHECK_EQ(cleared.drops, 1); /* before pl_clear_timer returned */
    CHECK_OK(pl_set_timeout(lp, 1, count_run, &closed, count_drop, &id));
    CHECK_OK(pl_timer_close(lp, id, count_run, &close_cb, count_drop));
    CHECK_EQ(closed.drops, 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(fired.runs, 1);
    CHECK_EQ(fired.drops, 0);
    CHECK_EQ(close_cb.runs, 1);
    CHECK_EQ(close_cb.drops, 0);
    CHECK_OK(pl_set_timeout(lp, 1000, count_run, &pending, count_drop, NULL));
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(pending.runs, 0);
    CHECK_EQ(pending.drops, 1);
    CHECK_EQ(cleared.runs + closed.runs, 0);
    CHECK_EQ(cleared.drops + closed.drops + fired.drops + close_cb.drops, 2);
}

/* A timeout that refreshes itself keeps its data until it finally fires or is cleared. */
typedef struct self_refresh {
    counted c;
    pl_id id;
    int refreshes;
} self_refresh;

static void refresh_self(pl_loop *lp, void *data) {
    self_refresh *s = data;
    s->c.runs++;
    if (s->refreshes > 0) {
        s->refreshes--;
        CHECK_OK(pl_timer_refresh(lp, s->id));
    }
}

static void drop_self_refresh(void *data) { ((self_refresh *)data)->c.drops++; }

static pl_id to_clear;

static void clear_other(pl_loop *lp, void *data) {
    (void)data;
    CHECK_OK(pl_clear_timer(lp, to_clear));
}

TEST(a_timeout_refreshed_by_its_own_callback) {
    pl_loop *lp = virtual_loop();
    self_refresh twice = {{0, 0}, 0, 2}, forever = {{0, 0}, 0, 1000};
    CHECK_OK(pl_set_timeout(lp, 10, refresh_self, &twice, drop_self_refresh, &twice.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(twice.c.runs, 3);
    CHECK_EQ(twice.c.drops, 0); /* it ran last: its data is its own */
    /* Refreshed, then cleared by someone else before it fired again: dropped. */
    CHECK_OK(pl_set_timeout(lp, 10, refresh_self, &forever, drop_self_refresh, &forever.id));
    to_clear = forever.id;
    CHECK_OK(pl_set_timeout(lp, 15, clear_other, NULL, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(forever.c.runs, 1);
    CHECK_EQ(forever.c.drops, 1);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(forever.c.drops, 1);
}

/* A timeout clearing itself in its callback: refreshed first, or held (pl_timer_hold), its data
 * was still the loop's, so the clear drops it; otherwise the data was already the callback's. */
typedef struct self_clear {
    counted c;
    pl_id id;
    int refresh_first;
} self_clear;

static void clear_self(pl_loop *lp, void *data) {
    self_clear *s = data;
    s->c.runs++;
    if (s->refresh_first) CHECK_OK(pl_timer_refresh(lp, s->id));
    CHECK_OK(pl_clear_timer(lp, s->id));
}

static void drop_self_clear(void *data) { ((self_clear *)data)->c.drops++; }

TEST(a_timeout_cleared_by_its_own_callback) {
    pl_loop *lp = virtual_loop();
    self_clear plain = {{0, 0}, 0, 0}, refreshed = {{0, 0}, 0, 1}, held = {{0, 0}, 0, 0};
    CHECK_OK(pl_set_timeout(lp, 10, clear_self, &plain, drop_self_clear, &plain.id));
    CHECK_OK(pl_set_timeout(lp, 10, clear_self, &refreshed, drop_self_clear, &refreshed.id));
    CHECK_OK(pl_set_timeout(lp, 10, clear_self, &held, drop_self_clear, &held.id));
    CHECK_OK(pl_timer_hold(lp, held.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(plain.c.runs + refreshed.c.runs + held.c.runs, 3);
    CHECK_EQ(plain.c.drops, 0);
    CHECK_EQ(refreshed.c.drops, 1);
    CHECK_EQ(held.c.drops, 1);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(plain.c.drops + refreshed.c.drops + held.c.drops, 2);
}

/* An interval refreshing itself is no business of the one-shot timer that fires next. */
static void interval_refreshes_itself(pl_loop *lp, void *data) {
    self_refresh *s = data;
    s->c.runs++;
    CHECK_OK(pl_timer_refresh(lp, s->id));
    if (s->c.runs == 2) CHECK_OK(pl_clear_timer(lp, s->id));
}

TEST(a_refreshing_interval_leaves_the_next_timeout_alone) {
    pl_loop *lp = virtual_loop();
    self_refresh iv = {{0, 0}, 0, 0};
    counted after = {0, 0};
    CHECK_OK(pl_set_interval(lp, 10, interval_refreshes_itself, &iv, drop_self_refresh, &iv.id));
    CHECK_OK(pl_set_timeout(lp, 15, count_run, &after, count_drop, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(iv.c.runs, 2);
    CHECK_EQ(iv.c.drops, 1);
    CHECK_EQ(after.runs, 1);
    CHECK_EQ(after.drops, 0);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(after.drops, 0);
}

typedef struct interval_counter {
    counted c;
    pl_id id;
    int stop_after;
} interval_counter;

static void interval_tick(pl_loop *lp, void *data) {
    interval_counter *i = data;
    i->c.runs++;
    if (i->c.runs == i->stop_after) CHECK_OK(pl_clear_timer(lp, i->id));
}

static void drop_interval(void *data) { ((interval_counter *)data)->c.drops++; }

TEST(intervals) {
    pl_loop *lp = virtual_loop();
    interval_counter self_cleared = {{0, 0}, 0, 3}, at_free = {{0, 0}, 0, -1};
    CHECK_OK(pl_set_interval(lp, 5, interval_tick, &self_cleared, drop_interval, &self_cleared.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(self_cleared.c.runs, 3);
    CHECK_EQ(self_cleared.c.drops, 1); /* repeating: dropped when cleared, though it ran */
    CHECK_OK(pl_set_interval(lp, 5, interval_tick, &at_free, drop_interval, &at_free.id));
    CHECK_EQ(pl_run(lp, PL_RUN_ONCE), 1);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(at_free.c.drops, 1);
    CHECK_EQ(self_cleared.c.drops, 1);
}

TEST(immediates_ticks_microtasks_pending) {
    pl_loop *lp = virtual_loop();
    counted ran[4], cleared = {0, 0}, left[4];
    pl_id id;
    memset(ran, 0, sizeof ran);
    memset(left, 0, sizeof left);
    CHECK_OK(pl_set_immediate(lp, count_run, &ran[0], count_drop, NULL));
    CHECK_OK(pl_next_tick(lp, count_run, &ran[1], count_drop));
    CHECK_OK(pl_queue_microtask(lp, count_run, &ran[2], count_drop));
    CHECK_OK(pl_queue_pending(lp, count_run, &ran[3], count_drop));
    CHECK_OK(pl_set_immediate(lp, count_run, &cleared, count_drop, &id));
    CHECK_OK(pl_clear_immediate(lp, id));
    CHECK_EQ(cleared.drops, 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    /* Queued and never run: dropped by pl_loop_free. */
    CHECK_OK(pl_set_immediate(lp, count_run, &left[0], count_drop, NULL));
    CHECK_OK(pl_next_tick(lp, count_run, &left[1], count_drop));
    CHECK_OK(pl_queue_microtask(lp, count_run, &left[2], count_drop));
    CHECK_OK(pl_queue_pending(lp, count_run, &left[3], count_drop));
    CHECK_OK(pl_loop_free(lp));
    {
        int i;
        for (i = 0; i < 4; i++) {
            CHECK_EQ(ran[i].runs, 1);
            CHECK_EQ(ran[i].drops, 0);
            CHECK_EQ(left[i].runs, 0);
            CHECK_EQ(left[i].drops, 1);
        }
    }
    CHECK_EQ(cleared.runs, 0);
    CHECK_EQ(cleared.drops, 1);
}

/* Counts, and stops the loop after a few runs: on the virtual clock an active idle handle keeps
 * the loop from ever blocking, so time (and any timer) stands still. */
static void count_then_stop(pl_loop *lp, void *data) {
    counted *c = data;
    if (++c->runs == 3) pl_stop(lp);
}

TEST(handles_and_close_callbacks) {
    pl_loop *lp = virtual_loop();
    counted idle = {0, 0}, prepare = {0, 0}, check = {0, 0}, stopped = {0, 0};
    counted close_ran = {0, 0}, close_never = {0, 0}, at_free = {0, 0};
    pl_id id_idle, id_prepare, id_check, id_stopped, id_free;
    CHECK_OK(pl_add_idle(lp, count_then_stop, &idle, count_drop, &id_idle));
    CHECK_OK(pl_add_prepare(lp, count_run, &prepare, count_drop, &id_prepare));
    CHECK_OK(pl_add_check(lp, count_run, &check, count_drop, &id_check));
    CHECK_OK(pl_add_check(lp, count_run, &stopped, count_drop, &id_stopped));
    CHECK_OK(pl_handle_stop(lp, id_stopped));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK(idle.runs > 0 && prepare.runs > 0 && check.runs > 0);
    CHECK_EQ(stopped.runs, 0);
    /* Closing drops a handle's data at once, whether it ran or not; the close callback is a
     * one-shot of its own. */
    CHECK_OK(pl_handle_close(lp, id_idle, count_run, &close_ran, count_drop));
    CHECK_EQ(idle.drops, 1);
    CHECK_OK(pl_handle_close(lp, id_prepare, NULL, NULL, NULL));
    CHECK_EQ(prepare.drops, 1);
    CHECK_OK(pl_handle_close(lp, id_check, NULL, NULL, NULL));
    /* The close phase runs the close callback; nothing active is left (the stopped handle does
     * not count). */
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 0);
    CHECK_EQ(close_ran.runs, 1);
    CHECK_EQ(close_ran.drops, 0);
    /* A close callback whose close phase never comes: dropped by pl_loop_free. */
    CHECK_OK(pl_handle_close(lp, id_stopped, count_run, &close_never, count_drop));
    CHECK_EQ(stopped.drops, 1);
    CHECK_OK(pl_add_prepare(lp, count_run, &at_free, count_drop, &id_free));
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(close_never.runs, 0);
    CHECK_EQ(close_never.drops, 1);
    CHECK_EQ(at_free.drops, 1);
    CHECK_EQ(idle.drops + prepare.drops + check.drops + stopped.drops, 4);
}

static void noop_signal(pl_loop *lp, void *data, int s) { (void)lp, (void)data, (void)s; }

TEST(fd_and_signal_watchers) {
    pl_loop *lp = virtual_loop();
    counted closed = {0, 0}, at_free = {0, 0}, sig_closed = {0, 0}, sig_free = {0, 0};
    counted close_cb = {0, 0};
    pl_id w1, w2, s1, s2;
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK_OK(pl_watch_fd(lp, fds[0], PL_READABLE, noop_io, &closed, count_drop, &w1));
    CHECK_OK(pl_watch_fd(lp, fds[1], PL_WRITABLE, noop_io, &at_free, count_drop, &w2));
    CHECK_OK(pl_watcher_stop(lp, w2)); /* stopped, still owned by the loop */
    CHECK_OK(pl_watcher_close(lp, w1, count_run, &close_cb, count_drop));
    CHECK_EQ(closed.drops, 1);
    CHECK_OK(pl_watch_signal(lp, SIGUSR1, noop_signal, &sig_closed, count_drop, &s1));
    CHECK_OK(pl_watch_signal(lp, SIGUSR2, noop_signal, &sig_free, count_drop, &s2));
    CHECK_OK(pl_signal_close(lp, s1, NULL, NULL, NULL));
    CHECK_EQ(sig_closed.drops, 1);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(at_free.drops, 1);
    CHECK_EQ(sig_free.drops, 1);
    CHECK_EQ(close_cb.runs, 0); /* its close phase never came */
    CHECK_EQ(close_cb.drops, 1);
    CHECK_EQ(closed.drops + sig_closed.drops, 2);
    close(fds[0]);
    close(fds[1]);
}

/* ----- work ------------------------------------------------------------------------------------ */

/* One record per work request, shared by its work function (on the pool thread) and its
 * completion (on the loop thread), as pl_queue_work's data is. */
typedef struct job {
    int worked;
    int after_runs;
    int status;
    int drops;
} job;

static void job_work(void *data) { ((job *)data)->worked++; }

static void job_after(pl_loop *lp, void *data, int status) {
    job *j = data;
    (void)lp;
    j->after_runs++;
    j->status = status;
}

static void job_drop(void *data) { ((job *)data)->drops++; }

static void job_done(pl_loop *lp, void *data, int status, const uint8_t *result, size_t len) {
    (void)result, (void)len;
    job_after(lp, data, status);
}

/* A job that holds the only pool thread until released, so that others stay queued. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_started, gate_open;

static void gate_work(void *data) {
    pthread_mutex_lock(&gate_lock);
    gate_started = 1;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    if (data) job_work(data);
}

static void gate_close(pl_loop *lp, void *data, pl_id *out) {
    gate_started = gate_open = 0;
    CHECK_OK(pl_queue_work(lp, gate_work, data ? job_after : NULL, data, data ? job_drop : NULL, out));
    pthread_mutex_lock(&gate_lock);
    while (!gate_started) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void) {
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

TEST(work_requests) {
    pl_loop *lp = virtual_loop(); /* one pool thread */
    job ran, cancelled, no_after, no_after_cancelled, job_no_done;
    job queued_at_free, running_at_free, job_with_done;
    pl_id id;
    memset(&ran, 0, sizeof ran);
    memset(&cancelled, 0, sizeof cancelled);
    memset(&no_after, 0, sizeof no_after);
    memset(&no_after_cancelled, 0, sizeof no_after_cancelled);
    memset(&job_no_done, 0, sizeof job_no_done);
    memset(&queued_at_free, 0, sizeof queued_at_free);
    memset(&running_at_free, 0, sizeof running_at_free);
    memset(&job_with_done, 0, sizeof job_with_done);

    gate_close(lp, NULL, NULL);
    CHECK_OK(pl_queue_work(lp, job_work, job_after, &ran, job_drop, NULL));
    CHECK_OK(pl_queue_work(lp, job_work, job_after, &cancelled, job_drop, &id));
    CHECK_OK(pl_cancel_work(lp, id));
    CHECK_OK(pl_queue_work(lp, job_work, NULL, &no_after, job_drop, NULL));
    CHECK_OK(pl_queue_work(lp, job_work, NULL, &no_after_cancelled, job_drop, &id));
    CHECK_OK(pl_cancel_work(lp, id));
    CHECK_OK(pl_job_sleep(lp, 1, NULL, &job_no_done, job_drop, NULL));
    CHECK_OK(pl_job_sleep(lp, 1, job_done, &job_with_done, job_drop, NULL));
    gate_release();
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);

    CHECK(ran.worked == 1 && ran.after_runs == 1 && ran.status == 0 && ran.drops == 0);
    CHECK(cancelled.worked == 0 && cancelled.after_runs == 1 && cancelled.drops == 0);
    CHECK_STATUS(cancelled.status, PL_ECANCELED);
    /* Without a completion callback the data is released once the request is done. */
    CHECK(no_after.worked == 1 && no_after.drops == 1);
    CHECK(no_after_cancelled.worked == 0 && no_after_cancelled.drops == 1);
    CHECK_EQ(job_no_done.drops, 1);
    CHECK(job_with_done.after_runs == 1 && job_with_done.status == 0 && job_with_done.drops == 0);

    /* Freed with one request running and one queued behind it: the running one finishes first
     * (pl_loop_free waits), the queued one is cancelled unless the pool picked it up in the
     * moment between opening the gate and the free. Either way no completion runs, and each
     * data is dropped exactly once, after its work (if any) returned. */
    gate_close(lp, &running_at_free, NULL);
    CHECK_OK(pl_queue_work(lp, job_work, job_after, &queued_at_free, job_drop, NULL));
    gate_release();
    CHECK_OK(pl_loop_free(lp));
    CHECK(running_at_free.worked == 1 && running_at_free.after_runs == 0);
    CHECK_EQ(running_at_free.drops, 1);
    CHECK(queued_at_free.worked <= 1 && queued_at_free.after_runs == 0);
    CHECK_EQ(queued_at_free.drops, 1);
}

TEST(remote_calls) {
    pl_loop *lp = virtual_loop();
    pl_remote *remote = pl_remote_new(lp);
    counted ran = {0, 0}, at_free = {0, 0}, refused = {0, 0};
    CHECK(remote != NULL);
    CHECK_OK(pl_remote_call(remote, count_run, &ran, count_drop));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_OK(pl_remote_call(remote, count_run, &at_free, count_drop));
    CHECK_OK(pl_loop_free(lp));
    CHECK_STATUS(pl_remote_call(remote, count_run, &refused, count_drop), PL_ECLOSED);
    pl_remote_free(remote);
    CHECK(ran.runs == 1 && ran.drops == 0);
    CHECK(at_free.runs == 0 && at_free.drops == 1);
    CHECK(refused.runs == 0 && refused.drops == 0);
}

static void trace_removes_itself(pl_loop *lp, void *data, const pl_trace_event *event) {
    counted *c = data;
    (void)event;
    c->runs++;
    CHECK_OK(pl_set_trace(lp, NULL, NULL, NULL));
    CHECK_EQ(c->drops, 0); /* still running: dropped after it returns */
}

static void trace_counts(pl_loop *lp, void *data, const pl_trace_event *event) {
    (void)lp, (void)event;
    ((counted *)data)->runs++;
}

TEST(trace_hooks) {
    pl_loop *lp = virtual_loop();
    counted replaced = {0, 0}, removed = {0, 0}, self_removed = {0, 0}, at_free = {0, 0};
    CHECK_OK(pl_set_trace(lp, trace_counts, &replaced, count_drop));
    CHECK_OK(pl_set_trace(lp, trace_counts, &removed, count_drop));
    CHECK_EQ(replaced.drops, 1);
    CHECK_OK(pl_set_trace(lp, NULL, NULL, NULL));
    CHECK_EQ(removed.drops, 1);
    CHECK_OK(pl_set_trace(lp, trace_removes_itself, &self_removed, count_drop));
    CHECK_OK(pl_set_immediate(lp, log_cb, "a", NULL, NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "b", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(self_removed.runs, 1);
    CHECK_EQ(self_removed.drops, 1);
    CHECK_OK(pl_set_trace(lp, trace_counts, &at_free, count_drop));
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(at_free.drops, 1);
    CHECK_EQ(replaced.drops + removed.drops + self_removed.drops, 3);
}

/* A drop function may use the loop: here it schedules an immediate, which then runs. */
static void drop_schedules(void *data) {
    pl_loop *lp = data;
    CHECK_OK(pl_set_immediate(lp, log_cb, "scheduled-by-drop", NULL, NULL));
}

TEST(drop_functions_may_use_the_loop) {
    pl_loop *lp = virtual_loop();
    pl_id id;
    CHECK_OK(pl_set_timeout(lp, 5, log_cb, lp, drop_schedules, &id));
    CHECK_OK(pl_clear_timer(lp, id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("scheduled-by-drop");
    CHECK_OK(pl_loop_free(lp));
}

int main(void) {
    RUN(timeouts);
    RUN(a_timeout_refreshed_by_its_own_callback);
    RUN(a_timeout_cleared_by_its_own_callback);
    RUN(a_refreshing_interval_leaves_the_next_timeout_alone);
    RUN(intervals);
    RUN(immediates_ticks_microtasks_pending);
    RUN(handles_and_close_callbacks);
    RUN(fd_and_signal_watchers);
    RUN(work_requests);
    RUN(remote_calls);
    RUN(trace_hooks);
    RUN(drop_functions_may_use_the_loop);
    return 0;
}
