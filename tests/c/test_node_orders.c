/* Orders Node prints: each scenario here is the C twin of a Node program NAME.js, and its log
 * must equal NAME.expected, that program's output under node. The programs are the project's
 * Node corpus, tests/node, which the Rust and Python tests replay too; tests/node/check.sh
 * reruns node on all of them. Scenarios that do not depend on timing run on the real clock as
 * well as the virtual one.
 *
 * Usage: test_node_orders DIR...   (the folders holding the .expected files, searched in order)
 *        test_node_orders --list   (the scenario names, one a line) */
#include "check.h"

#include <unistd.h>

/* ----- the scenarios: each is the "main script"; the harness then runs the loop ---------- */

static void timeout_then_immediate(pl_loop *lp, void *data) {
    (void)data;
    log_push("timeout");
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate", NULL, NULL));
}

static void rule_1_main_script_first(pl_loop *lp) {
    log_push("script start");
    CHECK_OK(pl_set_timeout(lp, 0, timeout_then_immediate, NULL, NULL, NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "microtask", NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick", NULL));
    log_push("script end");
}

static void immediate1_drains(pl_loop *lp, void *data) {
    (void)data;
    log_push("immediate1");
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro1", NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick1", NULL));
}

static void drain_after_each_immediate(pl_loop *lp) {
    CHECK_OK(pl_set_immediate(lp, immediate1_drains, NULL, NULL, NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate2", NULL, NULL));
}

static void timeout1_drains(pl_loop *lp, void *data) {
    (void)data;
    log_push("timeout1");
    CHECK_OK(pl_next_tick(lp, log_cb, "tick1", NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro1", NULL));
}

static void timeout2_drains(pl_loop *lp, void *data) {
    (void)data;
    log_push("timeout2");
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro2", NULL));
}

static void drain_after_each_timer(pl_loop *lp) {
    CHECK_OK(pl_set_timeout(lp, 5, timeout1_drains, NULL, NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 5, timeout2_drains, NULL, NULL, NULL));
}

static void micro1_queues(pl_loop *lp, void *data) {
    (void)data;
    log_push("micro1");
    CHECK_OK(pl_next_tick(lp, log_cb, "tick-from-micro", NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro-from-micro", NULL));
}

static void tick1_queues(pl_loop *lp, void *data) {
    (void)data;
    log_push("tick1");
    CHECK_OK(pl_next_tick(lp, log_cb, "tick-from-tick", NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro-from-tick", NULL));
}

static void ticks_before_microtasks(pl_loop *lp) {
    CHECK_OK(pl_queue_microtask(lp, micro1_queues, NULL, NULL));
    CHECK_OK(pl_next_tick(lp, tick1_queues, NULL, NULL));
    CHECK_OK(pl_queue_microtask(lp, log_cb, "micro2", NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick2", NULL));
}

static void immediate_a(pl_loop *lp, void *data) {
    (void)data;
    log_push("A");
    CHECK_OK(pl_set_immediate(lp, log_cb, "C", NULL, NULL));
}

static void immediate_from_immediate_waits(pl_loop *lp) {
    CHECK_OK(pl_set_immediate(lp, immediate_a, NULL, NULL, NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "B", NULL, NULL));
}

static void timeout_a(pl_loop *lp, void *data) {
    (void)data;
    log_push("A");
    CHECK_OK(pl_set_timeout(lp, 0, log_cb, "B", NULL, NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "I", NULL, NULL));
}

static void timer_from_timer_waits(pl_loop *lp) {
    CHECK_OK(pl_set_timeout(lp, 0, timeout_a, NULL, NULL, NULL));
}

static void rule_4_4_lists_by_expiry(pl_loop *lp) {
    CHECK_OK(pl_set_timeout(lp, 100, log_cb, "t100", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 50, log_cb, "t50", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 150, log_cb, "t150", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 50, log_cb, "t50b", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 20, log_cb, "t20a", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 20, log_cb, "t20b", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 20, log_cb, "t20c", NULL, NULL));
}

typedef struct interval_state {
    pl_id id;
    int n;
} interval_state;

static void interval_counts(pl_loop *lp, void *data) {
    interval_state *st = data;
    char entry[32];
    st->n++;
    snprintf(entry, sizeof entry, "interval%d", st->n);
    log_push(entry);
    if (st->n == 3) CHECK_OK(pl_clear_timer(lp, st->id));
}

static interval_state interval;

static void interval_cleared_in_callback(pl_loop *lp) {
    interval.n = 0;
    CHECK_OK(pl_set_interval(lp, 10, interval_counts, &interval, NULL, &interval.id));
}

static void interval_and_timeout_interleave(pl_loop *lp) {
    interval.n = 0;
    CHECK_OK(pl_set_interval(lp, 100, interval_counts, &interval, NULL, &interval.id));
    CHECK_OK(pl_set_timeout(lp, 250, log_cb, "timeout250", NULL, NULL));
}

static pl_id timer_b;

static void timeout_a_clears_b(pl_loop *lp, void *data) {
    (void)data;
    log_push("a");
    CHECK_OK(pl_clear_timer(lp, timer_b));
}

static void clear_due_timer(pl_loop *lp) {
    CHECK_OK(pl_set_timeout(lp, 10, timeout_a_clears_b, NULL, NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 10, log_cb, "b", NULL, &timer_b));
    CHECK_OK(pl_set_timeout(lp, 10, log_cb, "c", NULL, NULL));
}

static pl_id timer_a;

static void timeout_b_refreshes_a(pl_loop *lp, void *data) {
    (void)data;
    log_push("b");
    CHECK_OK(pl_timer_refresh(lp, timer_a));
}

static void refresh_moves_timer(pl_loop *lp) {
    CHECK_OK(pl_set_timeout(lp, 100, log_cb, "a", NULL, &timer_a));
    CHECK_OK(pl_set_timeout(lp, 50, timeout_b_refreshes_a, NULL, NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 200, log_cb, "c", NULL, NULL));
}

static void no_work(void *data) { (void)data; }

static void io_done(pl_loop *lp, void *data, int status) {
    (void)data;
    CHECK_OK(status);
    log_push("io");
    CHECK_OK(pl_set_timeout(lp, 0, log_cb, "timeout", NULL, NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate", NULL, NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick", NULL));
}

static void immediate_before_timeout_in_io(pl_loop *lp) {
    CHECK_OK(pl_queue_work(lp, no_work, io_done, NULL, NULL, NULL));
}

static void unref_does_not_keep_alive(pl_loop *lp) {
    pl_id early, late;
    CHECK_OK(pl_set_timeout(lp, 10, log_cb, "unrefd-early", NULL, &early));
    CHECK_OK(pl_timer_unref(lp, early));
    CHECK_OK(pl_set_timeout(lp, 60, log_cb, "refd", NULL, NULL));
    CHECK_OK(pl_set_timeout(lp, 200, log_cb, "unrefd-late", NULL, &late));
    CHECK_OK(pl_timer_unref(lp, late));
}

static void immediate_ticks(pl_loop *lp, void *data) {
    (void)data;
    log_push("immediate");
    CHECK_OK(pl_next_tick(lp, log_cb, "tick-from-immediate", NULL));
}

static void next_tick_before_immediate(pl_loop *lp) {
    CHECK_OK(pl_set_immediate(lp, immediate_ticks, NULL, NULL, NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick", NULL));
    log_push("main");
}

/* The Node program closes a socket; here a pipe watcher stands for it. */
static int close_pipe[2];
static pl_id close_watcher;

static void never_ready(pl_loop *lp, void *data, int status, int events) {
    (void)lp, (void)data, (void)status, (void)events;
    log_push("unexpected-io");
}

static void immediate1_closes(pl_loop *lp, void *data) {
    (void)data;
    log_push("immediate1");
    CHECK_OK(pl_watcher_close(lp, close_watcher, log_cb, "close", NULL));
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate2", NULL, NULL));
    CHECK_OK(pl_next_tick(lp, log_cb, "tick", NULL));
}

static void close_after_check(pl_loop *lp) {
    CHECK(pipe(close_pipe) == 0);
    CHECK_OK(pl_watch_fd(lp, close_pipe[0], PL_READABLE, never_ready, NULL, NULL, &close_watcher));
    CHECK_OK(pl_set_immediate(lp, immediate1_closes, NULL, NULL, NULL));
}

static void close_after_check_cleanup(void) {
    close(close_pipe[0]);
    close(close_pipe[1]);
}

/* ----- the harness ------------------------------------------------------------------------ */

typedef struct scenario {
    const char *name;
    void (*setup)(pl_loop *lp);
    void (*cleanup)(void);
    int timing_free; /* its order does not depend on how long anything takes */
} scenario;

static const scenario scenarios[] = {
    {"rule_1_main_script_first", rule_1_main_script_first, NULL, 1},
    {"rule_2_2_drain_after_each_immediate", drain_after_each_immediate, NULL, 1},
    {"rule_2_2_drain_after_each_timer", drain_after_each_timer, NULL, 1},
    {"rule_2_3_ticks_before_microtasks", ticks_before_microtasks, NULL, 1},
    {"rule_3_immediates_queued_in_check_wait", immediate_from_immediate_waits, NULL, 1},
    {"rule_4_3_timer_set_in_timer_waits", timer_from_timer_waits, NULL, 1},
    {"rule_4_4_lists_by_expiry", rule_4_4_lists_by_expiry, NULL, 0},
    {"rule_4_5_interval_cleared_in_callback", interval_cleared_in_callback, NULL, 0},
    {"interval_and_timeout_interleave", interval_and_timeout_interleave, NULL, 0},
    {"rule_4_6_clear_due_timer", clear_due_timer, NULL, 0},
    {"rule_4_7_refresh_moves_timer", refresh_moves_timer, NULL, 0},
    {"rule_4_9_immediate_before_timeout_in_io", immediate_before_timeout_in_io, NULL, 1},
    {"rule_6_2_unref_does_not_keep_alive", unref_does_not_keep_alive, NULL, 0},
    {"next_tick_before_immediate", next_tick_before_immediate, NULL, 1},
    {"close_after_check", close_after_check, close_after_check_cleanup, 1},
};

#define SCENARIOS ((int)(sizeof scenarios / sizeof scenarios[0]))

/* Reads NAME.expected, from the first of `dirs` that has it, into a space-separated string. */
static void read_expected(char **dirs, int ndirs, const char *name, char *out, size_t cap) {
    char path[1024], line[LOG_ENTRY + 2];
    FILE *f = NULL;
    int d;
    for (d = 0; d < ndirs && !f; d++) {
        snprintf(path, sizeof path, "%s/%s.expected", dirs[d], name);
        f = fopen(path, "r");
    }
    if (!f) {
        fprintf(stderr, "no expected output %s.expected in the given folders\n", name);
        exit(1);
    }
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (out[0]) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, line, cap - strlen(out) - 1);
    }
    fclose(f);
}

static int run_scenario(const scenario *s, pl_clock clock, const char *expected) {
    pl_options opts;
    pl_loop *lp;
    CHECK_OK(pl_options_init(&opts));
    opts.clock = clock;
    opts.threadpool_size = 1;
    CHECK_OK(pl_loop_create(&opts, &lp));
    log_clear();
    s->setup(lp);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_OK(pl_loop_free(lp));
    if (s->cleanup) s->cleanup();
    if (strcmp(log_joined(), expected) != 0) {
        printf("not ok - %s (%s clock)\n  got:      %s\n  expected: %s\n", s->name,
               clock == PL_CLOCK_VIRTUAL ? "virtual" : "real", log_joined(), expected);
        return 1;
    }
    printf("ok - %s (%s clock)\n", s->name, clock == PL_CLOCK_VIRTUAL ? "virtual" : "real");
    return 0;
}

int main(int argc, char **argv) {
    int i, failed = 0;
    char expected[LOG_MAX * (LOG_ENTRY + 1)];
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR... | --list\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < SCENARIOS; i++) printf("%s\n", scenarios[i].name);
        return 0;
    }
    for (i = 0; i < SCENARIOS; i++) {
        read_expected(argv + 1, argc - 1, scenarios[i].name, expected, sizeof expected);
        failed += run_scenario(&scenarios[i], PL_CLOCK_VIRTUAL, expected);
        if (scenarios[i].timing_free) failed += run_scenario(&scenarios[i], PL_CLOCK_REAL, expected);
    }
    return failed ? 1 : 0;
}
