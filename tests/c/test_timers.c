/* Timers: a million of them in Node's order, ref/unref and what keeps the loop alive, refresh,
 * active, close callbacks, Node's delay coercion, and time on the virtual clock. */
#include "check.h"

#include <math.h>
#include <stdint.h>

#define MILLION 1000000
#define DELAYS 1000

/* Each timer's data is its index + 1. Timers with delay d (1..1000) are due at d on the virtual
 * clock, so they must run delay by delay, and within one delay in the order they were set. */
static long ran;
static long last_index;
static int last_delay, order_errors;

static int delay_of(long index) { return (int)(index % DELAYS) + 1; }

static void million_cb(pl_loop *lp, void *data) {
    long index = (long)(uintptr_t)data - 1;
    int delay = delay_of(index);
    if (delay < last_delay || (delay == last_delay && index <= last_index)) order_errors++;
    if ((uint64_t)delay != pl_now(lp)) order_errors++;
    last_delay = delay;
    last_index = index;
    ran++;
}

TEST(a_million_timers_run_once_each_in_node_order) {
    pl_loop *lp = virtual_loop();
    long i;
    ran = 0, last_index = -1, last_delay = 0, order_errors = 0;
    for (i = 0; i < MILLION; i++) {
        CHECK_OK(pl_set_timeout(lp, delay_of(i), million_cb, (void *)(uintptr_t)(i + 1), NULL, NULL));
    }
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(ran, MILLION);
    CHECK_EQ(order_errors, 0);
    CHECK_EQ(pl_now(lp), DELAYS);
    CHECK_OK(pl_loop_free(lp));
}

TEST(a_million_timers_set_and_cleared_leave_nothing) {
    pl_loop *lp = virtual_loop();
    counted c = {0, 0};
    pl_id id;
    long i;
    for (i = 0; i < MILLION; i++) {
        CHECK_OK(pl_set_timeout(lp, delay_of(i), count_run, &c, count_drop, &id));
        CHECK_OK(pl_clear_timer(lp, id));
    }
    CHECK_EQ(c.drops, MILLION);
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(c.runs, 0);
    CHECK_OK(pl_loop_free(lp));
}

TEST(ref_unref_and_alive) {
    pl_loop *lp = virtual_loop();
    pl_id t;
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_OK(pl_set_timeout(lp, 50, log_cb, "t", NULL, &t));
    CHECK_EQ(pl_alive(lp), 1);
    CHECK_EQ(pl_timer_has_ref(lp, t), 1);
    CHECK_OK(pl_timer_unref(lp, t));
    CHECK_EQ(pl_timer_has_ref(lp, t), 0);
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0); /* nothing ref'd: returns at once */
    CHECK_LOG("");
    CHECK_EQ(pl_timer_active(lp, t), 1);
    CHECK_OK(pl_timer_ref(lp, t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("t");
    CHECK_EQ(pl_timer_active(lp, t), 0);
    CHECK_STATUS(pl_timer_has_ref(lp, t), PL_ENOENT); /* a fired timer's id is finished */
    CHECK_OK(pl_loop_free(lp));
}

TEST(delays_are_coerced_like_node) {
    pl_loop *lp = virtual_loop();
    /* < 1, NaN and > 2^31-1 become 1 ms; 1.7 is truncated to 1 ms; all five share the 1 ms list
     * and so run in the order they were set, at time 1. */
    CHECK_OK(pl_set_timeout(lp, 0, log_cb, "zero", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 2.9, log_cb, "two", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, -5, log_cb, "negative", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, NAN, log_cb, "nan", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 4294967296.0, log_cb, "huge", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 1.7, log_cb, "fraction", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("zero negative nan huge fraction two");
    CHECK_EQ(pl_now(lp), 2);
    CHECK_OK(pl_loop_free(lp));
}

static void log_phase(pl_loop *lp, void *data) {
    char entry[LOG_ENTRY];
    snprintf(entry, sizeof entry, "%s@%s", (const char *)data, pl_phase_name(pl_current_phase(lp)));
    log_push(entry);
}

static pl_id closing;

static void close_from_timer(pl_loop *lp, void *data) {
    (void)data;
    CHECK_OK(pl_timer_close(lp, closing, log_phase, "closed", NULL));
    CHECK_OK(pl_set_immediate(lp, log_phase, "immediate", NULL, NULL));
}

TEST(a_closed_timer_gets_its_close_callback_in_the_close_phase) {
    pl_loop *lp = virtual_loop();
    CHECK_OK(pl_set_interval(lp, 10, log_phase, "interval", NULL, &closing));
    CHECK_OK(pl_set_timeout(lp, 15, close_from_timer, NULL, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("interval@timers immediate@check closed@close");
    CHECK_EQ(pl_timer_active(lp, closing), 0);
    CHECK_STATUS(pl_timer_refresh(lp, closing), PL_ENOENT);
    CHECK_OK(pl_loop_free(lp));
}

/* A held timeout (pl_timer_hold) fires, stays refreshable as Node's Timeout does, fires again
 * when refreshed, and keeps its data: the drop function runs once, when the timer is closed. */
TEST(a_held_timeout_is_refreshed_after_it_fired_and_dropped_once_at_close) {
    pl_loop *lp = virtual_loop();
    counted *c = malloc(sizeof *c); /* heap data, so valgrind sees a double or missing drop */
    pl_id t;
    CHECK(c != NULL);
    c->runs = 0, c->drops = 0;
    CHECK_OK(pl_set_timeout(lp, 10, count_run, c, count_drop, &t));
    CHECK_OK(pl_timer_hold(lp, t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(c->runs, 1);
    CHECK_EQ(c->drops, 0); /* held: its data is still the loop's */
    CHECK_EQ(pl_timer_active(lp, t), 0); /* fired: dormant, and it kept nothing alive */
    CHECK_EQ(pl_timer_has_ref(lp, t), 1);
    CHECK_OK(pl_timer_refresh(lp, t));
    CHECK_EQ(pl_timer_active(lp, t), 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(c->runs, 2);
    CHECK_EQ(pl_now(lp), 20);
    CHECK_OK(pl_timer_close(lp, t, log_phase, "closed", NULL));
    CHECK_EQ(c->drops, 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("closed@close");
    CHECK_STATUS(pl_timer_refresh(lp, t), PL_ENOENT);
    CHECK_EQ(c->drops, 1);
    free(c);
    CHECK_OK(pl_loop_free(lp));
}

/* Without pl_timer_hold a timeout that fired is finished: its callback owned its data. */
TEST(an_unheld_timeout_that_fired_is_finished) {
    pl_loop *lp = virtual_loop();
    counted c = {0, 0};
    pl_id t;
    CHECK_OK(pl_set_timeout(lp, 10, count_run, &c, count_drop, &t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_STATUS(pl_timer_refresh(lp, t), PL_ENOENT);
    CHECK_STATUS(pl_clear_timer(lp, t), PL_ENOENT);
    CHECK_STATUS(pl_timer_hold(lp, t), PL_ENOENT);
    CHECK_EQ(c.runs, 1);
    CHECK_EQ(c.drops, 0);
    CHECK_OK(pl_loop_free(lp));
}

/* A held timeout that fired and was never cleared is dropped when the loop is freed. */
TEST(a_held_timeout_left_dormant_is_dropped_by_pl_loop_free) {
    pl_loop *lp = virtual_loop();
    counted c = {0, 0};
    pl_id t;
    CHECK_OK(pl_set_timeout(lp, 10, count_run, &c, count_drop, &t));
    CHECK_OK(pl_timer_hold(lp, t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_OK(pl_clear_timer(lp, t)); /* cleared while dormant: dropped now, finished */
    CHECK_EQ(c.drops, 1);
    CHECK_STATUS(pl_timer_refresh(lp, t), PL_ENOENT);
    CHECK_OK(pl_set_timeout(lp, 10, count_run, &c, count_drop, &t));
    CHECK_OK(pl_timer_hold(lp, t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(c.runs, 2);
    CHECK_EQ(c.drops, 1);
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(c.drops, 2);
}

TEST(time_on_the_virtual_clock) {
    pl_loop *lp = virtual_loop();
    pl_id t;
    CHECK_EQ(pl_now(lp), 0);
    CHECK_EQ(pl_hrtime(lp), 0);
    CHECK_OK(pl_set_timeout(lp, 50, log_cb, "t50", NULL, &t));
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 1); /* not due: nothing ran, still alive */
    CHECK_LOG("");
    CHECK_EQ(pl_now(lp), 0);
    CHECK_OK(pl_advance(lp, 49));
    CHECK_EQ(pl_now(lp), 49);
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 1);
    CHECK_LOG("");
    CHECK_OK(pl_advance(lp, 1));
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 0);
    CHECK_LOG("t50");
    CHECK_EQ(pl_hrtime(lp), 50u * 1000 * 1000);
    /* Refresh from now: due 30 ms after the refresh. */
    CHECK_OK(pl_set_timeout(lp, 30, log_cb, "t30", NULL, &t));
    CHECK_OK(pl_advance(lp, 20));
    CHECK_OK(pl_timer_refresh(lp, t));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("t50 t30");
    CHECK_EQ(pl_now(lp), 100);
    CHECK_OK(pl_loop_free(lp));
}

TEST(real_clock_timers_wait_for_real) {
    pl_loop *lp = pl_loop_new(NULL);
    uint64_t start;
    CHECK(lp != NULL);
    pl_update_time(lp);
    start = pl_now(lp);
    CHECK_OK(pl_set_timeout(lp, 30, log_cb, "t30", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 10, log_cb, "t10", NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("t10 t30");
    CHECK(pl_now(lp) - start >= 30);
    CHECK_OK(pl_loop_free(lp));
}

int main(void) {
    RUN(a_million_timers_run_once_each_in_node_order);
    RUN(a_million_timers_set_and_cleared_leave_nothing);
    RUN(ref_unref_and_alive);
    RUN(delays_are_coerced_like_node);
    RUN(a_closed_timer_gets_its_close_callback_in_the_close_phase);
    RUN(a_held_timeout_is_refreshed_after_it_fired_and_dropped_once_at_close);
    RUN(an_unheld_timeout_that_fired_is_finished);
    RUN(a_held_timeout_left_dormant_is_dropped_by_pl_loop_free);
    RUN(time_on_the_virtual_clock);
    RUN(real_clock_timers_wait_for_real);
    return 0;
}
