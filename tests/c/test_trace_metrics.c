/* Watching the loop work: the trace hook (begin/end pairs with phase, kind and id), the
 * recorded timeline, metrics, utilization and the delay monitor. */
#include "check.h"

#include <unistd.h>

#define EVENTS 64

static pl_trace_event events[EVENTS];
static int n_events;

static void record_event(pl_loop *lp, void *data, const pl_trace_event *event) {
    (void)lp, (void)data;
    CHECK(n_events < EVENTS);
    events[n_events++] = *event;
}

TEST(the_trace_hook_sees_every_callback_twice) {
    pl_loop *lp = virtual_loop();
    pl_id timer, immediate;
    int i;
    n_events = 0;
    CHECK_OK(pl_set_trace(lp, record_event, NULL, NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick", NULL));
    CHECK_OK(pl_set_timeout(lp, 1, log_cb, "timeout", NULL, &timer));
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate", NULL, &immediate));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("tick immediate timeout");
    CHECK_EQ(n_events, 6);
    for (i = 0; i < 6; i += 2) {
        CHECK(events[i].begin && !events[i + 1].begin);
        CHECK_EQ(events[i].kind, events[i + 1].kind);
        CHECK_EQ(events[i].id, events[i + 1].id);
        CHECK(events[i + 1].time_ns >= events[i].time_ns);
    }
    CHECK_EQ(events[0].kind, PL_KIND_TICK);
    CHECK_EQ(events[0].phase, PL_PHASE_NONE);
    CHECK_EQ(events[0].id, 0);
    CHECK_EQ(events[0].iteration, 0);
    CHECK_EQ(events[2].kind, PL_KIND_IMMEDIATE);
    CHECK_EQ(events[2].phase, PL_PHASE_CHECK);
    CHECK_EQ(events[2].id, immediate);
    CHECK_EQ(events[4].kind, PL_KIND_TIMEOUT);
    CHECK_EQ(events[4].phase, PL_PHASE_TIMERS);
    CHECK_EQ(events[4].id, timer);
    CHECK(events[4].iteration > events[2].iteration);
    CHECK_STR(pl_kind_name(events[4].kind), "timeout");
    CHECK_OK(pl_loop_free(lp));
}

TEST(kind_names) {
    static const char *names[] = {"timeout", "interval", "pending", "idle", "prepare",
                                  "io", "work", "threadsafe", "signal", "immediate",
                                  "check", "close", "tick", "microtask"};
    int kind;
    CHECK_EQ(PL_KIND_TIMEOUT, 1);
    CHECK_EQ(PL_KIND_MICROTASK, 14);
    for (kind = PL_KIND_TIMEOUT; kind <= PL_KIND_MICROTASK; kind++) CHECK_STR(pl_kind_name(kind), names[kind - 1]);
}

TEST(the_timeline_records_without_a_hook) {
    pl_loop *lp = virtual_loop();
    pl_trace_record records[8];
    CHECK_OK(pl_record(lp, true));
    CHECK_OK(pl_set_immediate(lp, log_cb, "a", NULL, NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "b", NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(pl_timeline(lp, NULL, 0), 2);
    CHECK_EQ(pl_timeline(lp, records, 1), 2); /* copies one, tells how many */
    CHECK_EQ(records[0].kind, PL_KIND_MICROTASK);
    CHECK_EQ(pl_timeline(lp, records, 8), 2);
    CHECK_EQ(records[1].kind, PL_KIND_IMMEDIATE);
    CHECK_EQ(records[1].phase, PL_PHASE_CHECK);
    CHECK(records[1].data != NULL);
    CHECK_STR((const char *)records[1].data, "a"); /* the data it was scheduled with */
    CHECK_OK(pl_clear_timeline(lp));
    CHECK_EQ(pl_timeline(lp, NULL, 0), 0);
    CHECK_OK(pl_record(lp, false));
    CHECK_OK(pl_set_immediate(lp, log_cb, "c", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(pl_timeline(lp, NULL, 0), 0);
    CHECK_OK(pl_loop_free(lp));
}

static void remote_noop(pl_loop *lp, void *data) { (void)lp, (void)data; }

TEST(metrics_count_iterations_and_events) {
    pl_loop *lp = virtual_loop();
    pl_remote *remote = pl_remote_new(lp);
    pl_metrics m;
    int i;
    CHECK_OK(pl_loop_metrics(lp, &m));
    CHECK_EQ(m.iterations, 0);
    CHECK_EQ(m.events, 0);
    for (i = 0; i < 3; i++) CHECK_OK(pl_remote_call(remote, remote_noop, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_OK(pl_loop_metrics(lp, &m));
    CHECK_EQ(m.iterations, 1);
    CHECK_EQ(m.events, 3);
    CHECK(m.events_waiting <= m.events);
    pl_remote_free(remote);
    CHECK_OK(pl_loop_free(lp));
}

TEST(utilization_and_the_delay_monitor) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_utilization before, after, since;
    pl_delay_stats stats;
    uint64_t p50;
    int i;
    CHECK(lp != NULL);
    CHECK_OK(pl_loop_utilization(lp, &before));
    CHECK_OK(pl_delay_monitor_enable(lp, true));
    for (i = 0; i < 5; i++) {
        CHECK_OK(pl_set_timeout(lp, 2, remote_noop, NULL, NULL, NULL));
        CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    }
    CHECK_OK(pl_loop_utilization(lp, &after));
    CHECK(after.idle_ms >= before.idle_ms && after.active_ms >= before.active_ms);
    CHECK(after.idle_ms > 0); /* blocked in poll waiting for the timers */
    CHECK(after.utilization >= 0 && after.utilization <= 1);
    CHECK_OK(pl_utilization_since(&after, &before, &since));
    CHECK(since.idle_ms + since.active_ms > 0);
    CHECK(since.utilization >= 0 && since.utilization <= 1);
    CHECK_OK(pl_delay_monitor_stats(lp, &stats));
    CHECK(stats.count > 0);
    CHECK(stats.min <= stats.max);
    CHECK(stats.mean >= (double)stats.min && stats.mean <= (double)stats.max);
    CHECK_OK(pl_delay_monitor_percentile(lp, 50, &p50));
    CHECK(p50 >= stats.min && p50 <= stats.max);
    CHECK_OK(pl_delay_monitor_reset(lp));
    CHECK_OK(pl_delay_monitor_stats(lp, &stats));
    CHECK_EQ(stats.count, 0);
    CHECK_OK(pl_delay_monitor_percentile(lp, 99, &p50));
    CHECK_EQ(p50, 0);
    CHECK_OK(pl_loop_free(lp));
}

int main(void) {
    RUN(the_trace_hook_sees_every_callback_twice);
    RUN(kind_names);
    RUN(the_timeline_records_without_a_hook);
    RUN(metrics_count_iterations_and_events);
    RUN(utilization_and_the_delay_monitor);
    return 0;
}
