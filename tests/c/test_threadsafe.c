/* The thread-safe way in: 8 threads each send calls through their own reference to one
 * pl_remote; every call runs exactly once, on the loop thread, in the poll phase, in each
 * thread's order. Then the same with pl_loop_free racing the senders: every call is either run
 * or dropped (never both, never lost), and the remotes answer PL_ECLOSED afterwards. */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#define THREADS 8
#define CALLS 20000

static pthread_t loop_thread;

/* ----- exact count and per-thread order ----------------------------------------------------- */

typedef struct sender {
    pl_remote *remote; /* this thread's own reference */
    int index;
} sender;

static unsigned next_seq[THREADS];
static long received;
static int order_errors, wrong_thread, wrong_phase;
static pl_id keepalive;

static void *encode(int thread, unsigned seq) {
    return (void *)(uintptr_t)(((uintptr_t)thread << 24) | seq);
}

static void receive(pl_loop *lp, void *data) {
    uintptr_t raw = (uintptr_t)data;
    int thread = (int)(raw >> 24);
    unsigned seq = (unsigned)(raw & 0xffffff);
    if (!pthread_equal(pthread_self(), loop_thread)) wrong_thread++;
    if (pl_current_phase(lp) != PL_PHASE_POLL) wrong_phase++;
    if (thread < 0 || thread >= THREADS || seq != next_seq[thread]) {
        order_errors++;
    } else {
        next_seq[thread]++;
    }
    if (++received == (long)THREADS * CALLS) CHECK_OK(pl_clear_timer(lp, keepalive));
}

static void *send_calls(void *arg) {
    sender *s = arg;
    unsigned i;
    for (i = 0; i < CALLS; i++) CHECK_OK(pl_remote_call(s->remote, receive, encode(s->index, i), NULL));
    pl_remote_free(s->remote);
    return NULL;
}

static void never(pl_loop *lp, void *data) {
    (void)lp, (void)data;
    fprintf(stderr, "the keepalive timer fired: calls were lost\n");
    exit(1);
}

TEST(calls_from_8_threads_run_once_each_in_order) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_remote *remote;
    pthread_t threads[THREADS];
    sender senders[THREADS];
    int i;
    CHECK(lp != NULL);
    loop_thread = pthread_self();
    remote = pl_remote_new(lp);
    CHECK(remote != NULL);
    /* A remote does not keep the loop alive; a long timer does until the last call arrives. */
    CHECK_OK(pl_set_timeout(lp, 120000, never, NULL, NULL, &keepalive));
    for (i = 0; i < THREADS; i++) {
        senders[i].remote = pl_remote_clone(remote);
        CHECK(senders[i].remote == remote);
        senders[i].index = i;
        CHECK(pthread_create(&threads[i], NULL, send_calls, &senders[i]) == 0);
    }
    pl_remote_free(remote); /* the threads hold their own references */
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    for (i = 0; i < THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK_EQ(received, (long)THREADS * CALLS);
    for (i = 0; i < THREADS; i++) CHECK_EQ(next_seq[i], CALLS);
    CHECK_EQ(order_errors, 0);
    CHECK_EQ(wrong_thread, 0);
    CHECK_EQ(wrong_phase, 0);
    CHECK_OK(pl_loop_free(lp));
}

/* ----- pl_loop_free racing the senders -------------------------------------------------------- */

static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;
static long accepted, race_ran, race_dropped;
static int unexpected_status;

static void race_run(pl_loop *lp, void *data) {
    (void)lp, (void)data;
    race_ran++; /* loop thread only */
}

static void race_drop(void *data) {
    (void)data;
    race_dropped++; /* loop thread only: drops run inside pl_loop_free */
}

static void *send_until_closed(void *arg) {
    pl_remote *remote = arg;
    long mine = 0;
    int status;
    /* Until the loop is gone; yielding now and then so that the loop thread gets to run (and
     * to free the loop) even where threads are serialised, as under valgrind. */
    while ((status = pl_remote_call(remote, race_run, NULL, race_drop)) == PL_OK) {
        if (++mine % 256 == 0) sched_yield();
    }
    pthread_mutex_lock(&race_lock);
    accepted += mine;
    if (status != PL_ECLOSED) unexpected_status = status;
    pthread_mutex_unlock(&race_lock);
    pl_remote_free(remote);
    return NULL;
}

TEST(freeing_the_loop_while_threads_call_loses_nothing) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_remote *remote = pl_remote_new(lp);
    pthread_t threads[THREADS];
    struct timespec pause = {0, 100000}; /* 0.1 ms */
    int i, rounds = 0;
    CHECK(remote != NULL);
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&threads[i], NULL, send_until_closed, pl_remote_clone(remote)) == 0);
    }
    /* Run some of the calls, then free the loop while the threads are still sending. A round
     * that ran nothing sleeps: under valgrind, whose threads take turns on one lock that is not
     * fair, a loop thread that never blocks can keep the senders from starting at all. */
    while (race_ran < 1000 && rounds++ < 100000) {
        long before = race_ran;
        CHECK(pl_run(lp, PL_RUN_NOWAIT) >= 0);
        if (race_ran == before) nanosleep(&pause, NULL);
    }
    CHECK_OK(pl_loop_free(lp));
    for (i = 0; i < THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK_EQ(unexpected_status, 0);
    CHECK(race_ran > 0);
    CHECK_EQ(race_ran + race_dropped, accepted);
    /* The remote outlived its loop. */
    CHECK_STATUS(pl_remote_call(remote, race_run, NULL, race_drop), PL_ECLOSED);
    pl_remote_free(remote);
}

int main(void) {
    RUN(calls_from_8_threads_run_once_each_in_order);
    RUN(freeing_the_loop_while_threads_call_loses_nothing);
    return 0;
}
