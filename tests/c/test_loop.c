/* The loop itself: the phases of one iteration in order, idle/prepare/check handles, pending
 * callbacks, run modes and pl_stop, the drain modes, pl_walk and the embedding calls. */
#include "check.h"

#include <pthread.h>

static void log_phase(pl_loop *lp, void *data) {
    char entry[LOG_ENTRY];
    snprintf(entry, sizeof entry, "%s@%s", (const char *)data, pl_phase_name(pl_current_phase(lp)));
    log_push(entry);
}

/* A handle that logs its phase and stops itself. */
typedef struct once_handle {
    const char *name;
    pl_id id;
} once_handle;

static void handle_once(pl_loop *lp, void *data) {
    once_handle *h = data;
    log_phase(lp, (void *)h->name);
    CHECK_OK(pl_handle_stop(lp, h->id));
}

TEST(one_iteration_runs_the_phases_in_order) {
    pl_loop *lp = virtual_loop();
    pl_remote *remote = pl_remote_new(lp);
    once_handle idle = {"idle", 0}, prepare = {"prepare", 0}, check = {"check", 0};
    pl_id closing;
    CHECK(remote != NULL);
    CHECK_OK(pl_next_tick(lp, log_phase, "main-tick", NULL));
    CHECK_OK(pl_set_timeout(lp, 1, log_phase, "timeout", NULL, NULL));
    CHECK_OK(pl_advance(lp, 1)); /* due in the first timers phase */
    CHECK_OK(pl_queue_pending(lp, log_phase, "pending", NULL));
    CHECK_OK(pl_add_idle(lp, handle_once, &idle, NULL, &idle.id));
    CHECK_OK(pl_add_prepare(lp, handle_once, &prepare, NULL, &prepare.id));
    CHECK_OK(pl_add_check(lp, handle_once, &check, NULL, &check.id));
    CHECK_OK(pl_remote_call(remote, log_phase, "remote", NULL));
    CHECK_OK(pl_set_immediate(lp, log_phase, "immediate", NULL, NULL));
    CHECK_OK(pl_add_idle(lp, log_phase, "never", NULL, &closing));
    CHECK_OK(pl_handle_close(lp, closing, log_phase, "close", NULL));
    CHECK_EQ(pl_iteration(lp), 0);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("main-tick@none timeout@timers pending@pending idle@idle prepare@prepare "
              "remote@poll check@check immediate@check close@close");
    /* The round ends with the timers phase that begins the next iteration (libuv >= 1.45). */
    CHECK_EQ(pl_iteration(lp), 2);
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_NONE);
    pl_remote_free(remote);
    CHECK_OK(pl_loop_free(lp));
}

static pl_id handles[3];

static void stop_after_first(pl_loop *lp, void *data) {
    log_push((const char *)data);
    if (strcmp(data, "A") == 0) pl_stop(lp);
}

TEST(handles_run_most_recently_started_first) {
    pl_loop *lp = virtual_loop();
    int i;
    /* Idle handles (an active one keeps poll from blocking; a lone check handle would wait in
     * poll forever, as in libuv). */
    CHECK_OK(pl_add_idle(lp, stop_after_first, "A", NULL, &handles[0]));
    CHECK_OK(pl_add_idle(lp, stop_after_first, "B", NULL, &handles[1]));
    CHECK_OK(pl_add_idle(lp, stop_after_first, "C", NULL, &handles[2]));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1); /* stopped, still alive */
    CHECK_LOG("C B A");
    CHECK_OK(pl_handle_stop(lp, handles[1]));
    CHECK_EQ(pl_handle_active(lp, handles[1]), 0);
    CHECK_OK(pl_handle_start(lp, handles[1]));
    CHECK_OK(pl_handle_start(lp, handles[1])); /* no-op when active */
    log_clear();
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK_LOG("B C A");
    /* Unref'd handles do not keep the loop alive. */
    for (i = 0; i < 3; i++) {
        CHECK_EQ(pl_handle_has_ref(lp, handles[i]), 1);
        CHECK_OK(pl_handle_unref(lp, handles[i]));
        CHECK_EQ(pl_handle_has_ref(lp, handles[i]), 0);
    }
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_OK(pl_handle_ref(lp, handles[0]));
    CHECK_EQ(pl_alive(lp), 1);
    CHECK_OK(pl_loop_free(lp));
}

static void remote_queues(pl_loop *lp, void *data) {
    (void)data;
    log_push("remote");
    CHECK_OK(pl_set_immediate(lp, log_phase, "immediate", NULL, NULL));
    CHECK_OK(pl_queue_pending(lp, log_phase, "pending-from-poll", NULL));
}

TEST(pending_queued_in_poll_runs_before_check) {
    pl_loop *lp = virtual_loop();
    pl_remote *remote = pl_remote_new(lp);
    CHECK_OK(pl_remote_call(remote, remote_queues, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("remote pending-from-poll@pending immediate@check");
    pl_remote_free(remote);
    CHECK_OK(pl_loop_free(lp));
}

typedef struct stopper {
    pl_id id;
    int runs;
} stopper;

static void stop_on_third(pl_loop *lp, void *data) {
    stopper *s = data;
    if (++s->runs % 3 == 0) pl_stop(lp);
}

TEST(run_modes_and_stop) {
    pl_loop *lp = virtual_loop();
    stopper s = {0, 0};
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 0);
    CHECK_EQ(pl_run(lp, PL_RUN_ONCE), 0);
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_ONCE), 0);
    CHECK_LOG("immediate");
    /* ONCE blocks in poll for the timer (the virtual clock jumps) and runs it at the end. */
    CHECK_OK(pl_set_timeout(lp, 500, log_cb, "t500", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_ONCE), 0);
    CHECK_LOG("immediate t500");
    /* pl_stop ends pl_run at the end of the iteration; the next pl_run goes on. */
    CHECK_OK(pl_set_interval(lp, 10, stop_on_third, &s, NULL, &s.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK_EQ(s.runs, 3);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK_EQ(s.runs, 6);
    /* A pl_stop before pl_run makes it return at once, as uv_stop does; the flag is then spent. */
    pl_stop(lp);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK_EQ(s.runs, 6);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 1);
    CHECK_EQ(s.runs, 9);
    CHECK_OK(pl_clear_timer(lp, s.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_OK(pl_loop_free(lp));
}

static void immediate_queues_micro(pl_loop *lp, void *data) {
    char micro[LOG_ENTRY];
    log_push((const char *)data);
    snprintf(micro, sizeof micro, "micro%s", (const char *)data + strlen("immediate"));
    CHECK_OK(pl_queue_microtask(lp, log_cb, strcmp(micro, "micro1") == 0 ? "micro1" : "micro2", NULL));
}

TEST(drain_modes) {
    pl_options opts;
    pl_loop *lp;
    int mode;
    for (mode = 0; mode < 2; mode++) {
        CHECK_OK(pl_options_init(&opts));
        opts.clock = PL_CLOCK_VIRTUAL;
        opts.drain = mode == 0 ? PL_DRAIN_CALLBACK : PL_DRAIN_PHASE;
        CHECK_OK(pl_loop_create(&opts, &lp));
        log_clear();
        CHECK_OK(pl_set_immediate(lp, immediate_queues_micro, "immediate1", NULL, NULL));
        CHECK_OK(pl_set_immediate(lp, immediate_queues_micro, "immediate2", NULL, NULL));
        CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
        /* Node >= 11 drains after every callback; Node <= 10 once after the phase. */
        if (mode == 0) {
            CHECK_LOG("immediate1 micro1 immediate2 micro2");
        } else {
            CHECK_LOG("immediate1 immediate2 micro1 micro2");
        }
        CHECK_OK(pl_loop_free(lp));
    }
}

static char walked[LOG_MAX * LOG_ENTRY];

static void walk_collect(void *data, const pl_handle_info *info) {
    char entry[128];
    (void)data;
    snprintf(entry, sizeof entry, "%s%s:%s ", info->kind, info->refed ? "" : "(unref)", info->detail);
    strcat(walked, entry);
}

TEST(walk_lists_what_keeps_the_loop_alive) {
    pl_loop *lp = virtual_loop();
    pl_id t, i;
    walked[0] = '\0';
    CHECK_EQ(pl_walk(lp, walk_collect, NULL), 0);
    CHECK_OK(pl_set_timeout(lp, 25, log_cb, "t", NULL, &t));
    CHECK_OK(pl_set_interval(lp, 5, log_cb, "iv", NULL, &i));
    CHECK_OK(pl_timer_unref(lp, i));
    CHECK_OK(pl_set_immediate(lp, log_cb, "im", NULL, NULL));
    CHECK_OK(pl_queue_pending(lp, log_cb, "p", NULL));
    CHECK_EQ(pl_walk(lp, walk_collect, NULL), 4);
    CHECK_STR(walked, "timeout:25 ms interval(unref):5 ms immediate: pending:1 queued ");
    CHECK_OK(pl_loop_free(lp));
}

TEST(embedding_fd_and_timeout) {
    pl_loop *lp = virtual_loop();
    pl_id t;
    CHECK(pl_backend_fd(lp) >= 0);
    CHECK_EQ(pl_backend_fd(lp), pl_backend_fd(lp));
    CHECK_EQ(pl_backend_timeout(lp), 0); /* not alive: poll would not block */
    CHECK_OK(pl_set_timeout(lp, 100, log_cb, "t", NULL, &t));
    CHECK_EQ(pl_backend_timeout(lp), 100);
    CHECK_OK(pl_set_immediate(lp, log_cb, "i", NULL, NULL));
    CHECK_EQ(pl_backend_timeout(lp), 0);
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 1);
    CHECK_EQ(pl_backend_timeout(lp), 100);
    CHECK_OK(pl_clear_timer(lp, t));
    CHECK_OK(pl_loop_free(lp));
}

TEST(phase_names) {
    CHECK_STR(pl_phase_name(PL_PHASE_NONE), "none");
    CHECK_STR(pl_phase_name(PL_PHASE_TIMERS), "timers");
    CHECK_STR(pl_phase_name(PL_PHASE_PENDING), "pending");
    CHECK_STR(pl_phase_name(PL_PHASE_IDLE), "idle");
    CHECK_STR(pl_phase_name(PL_PHASE_PREPARE), "prepare");
    CHECK_STR(pl_phase_name(PL_PHASE_POLL), "poll");
    CHECK_STR(pl_phase_name(PL_PHASE_CHECK), "check");
    CHECK_STR(pl_phase_name(PL_PHASE_CLOSE), "close");
}

int main(void) {
    RUN(one_iteration_runs_the_phases_in_order);
    RUN(handles_run_most_recently_started_first);
    RUN(pending_queued_in_poll_runs_before_check);
    RUN(run_modes_and_stop);
    RUN(drain_modes);
    RUN(walk_lists_what_keeps_the_loop_alive);
    RUN(embedding_fd_and_timeout);
    RUN(phase_names);
    return 0;
}
