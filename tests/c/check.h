/* Helpers shared by the C tests: assertions that print where and why they failed, a log that
 * callbacks append to, and drop-function counters. Each test program is a single file that
 * includes this header; failures exit(1). */
#ifndef PHASELOOP_TEST_CHECK_H
#define PHASELOOP_TEST_CHECK_H

/* pipe(), pthreads, nanosleep under -std=c99. */
#define _POSIX_C_SOURCE 200809L

#include <phaseloop.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_EQ(actual, expected)                                                       \
    do {                                                                                 \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                  \
        if (a_ != e_) {                                                                  \
            fprintf(stderr, "%s:%d: %s is %lld, expected %s = %lld\n", __FILE__, __LINE__, \
                    #actual, a_, #expected, e_);                                         \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* A call that must return `expected` (a status code), named on failure. */
#define CHECK_STATUS(call, expected)                                                     \
    do {                                                                                 \
        int s_ = (int)(call), x_ = (int)(expected);                                      \
        if (s_ != x_) {                                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s (%d)\n", __FILE__,  \
                    __LINE__, #call, s_, pl_status_name(s_), pl_status_name(x_), x_);    \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, PL_OK)

#define CHECK_STR(actual, expected)                                                      \
    do {                                                                                 \
        const char *a_ = (actual), *e_ = (expected);                                     \
        if (a_ == NULL || strcmp(a_, e_) != 0) {                                         \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    #actual, a_ ? a_ : "(null)", e_);                                    \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* ----- a log of what ran, in order ----------------------------------------------------- */

#define LOG_MAX 256
#define LOG_ENTRY 64

static char log_entries[LOG_MAX][LOG_ENTRY];
static int log_len;

static inline void log_clear(void) { log_len = 0; }

static inline void log_push(const char *entry) {
    CHECK(log_len < LOG_MAX);
    snprintf(log_entries[log_len], LOG_ENTRY, "%s", entry);
    log_len++;
}

/* A pl_callback that logs its data, a string. */
static inline void log_cb(pl_loop *lp, void *data) {
    (void)lp;
    log_push((const char *)data);
}

/* The log joined by spaces (for messages). */
static inline const char *log_joined(void) {
    static char out[LOG_MAX * (LOG_ENTRY + 1)];
    int i;
    out[0] = '\0';
    for (i = 0; i < log_len; i++) {
        if (i) strcat(out, " ");
        strcat(out, log_entries[i]);
    }
    return out;
}

/* Checks the log against a space-separated list of entries. */
#define CHECK_LOG(expected)                                                              \
    do {                                                                                 \
        if (strcmp(log_joined(), (expected)) != 0) {                                     \
            fprintf(stderr, "%s:%d: log is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    log_joined(), (expected));                                           \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* ----- counting what the library does with data ------------------------------------------ */

/* Data whose callback runs and drop function runs are counted. */
typedef struct counted {
    int runs;
    int drops;
} counted;

static inline void count_run(pl_loop *lp, void *data) {
    (void)lp;
    ((counted *)data)->runs++;
}

static inline void count_drop(void *data) { ((counted *)data)->drops++; }

/* A virtual-clock loop with a one-thread pool: no test waits for real time. */
static inline pl_loop *virtual_loop(void) {
    pl_options opts;
    pl_loop *lp;
    CHECK_OK(pl_options_init(&opts));
    opts.clock = PL_CLOCK_VIRTUAL;
    opts.threadpool_size = 1;
    lp = pl_loop_new(&opts);
    CHECK(lp != NULL);
    return lp;
}

#define TEST(name) static void name(void)
#define RUN(name)                                                                        \
    do {                                                                                 \
        log_clear();                                                                     \
        name();                                                                          \
        printf("ok - %s\n", #name);                                                      \
        fflush(stdout);                                                                  \
    } while (0)

#endif
