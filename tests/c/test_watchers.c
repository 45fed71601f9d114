/* fd watchers (level-triggered, stop/start, ref/unref, a closed fd reported once) and signal
 * watchers, plus the signal wake-up fd. */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

typedef struct watch {
    pl_id id;
    int fd;
    int calls;
    int last_status;
    int last_events;
    int read_on_call; /* the call on which to drain the pipe and close the watcher */
} watch;

static void on_readable(pl_loop *lp, void *data, int status, int events) {
    watch *w = data;
    char buf[16];
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    w->calls++;
    w->last_status = status;
    w->last_events = events;
    log_push(events & PL_READABLE ? "readable" : "other");
    if (w->calls == w->read_on_call) {
        CHECK(read(w->fd, buf, sizeof buf) > 0);
        CHECK_OK(pl_watcher_close(lp, w->id, log_cb, "close", NULL));
    }
}

TEST(an_fd_watcher_is_level_triggered) {
    pl_loop *lp = virtual_loop();
    watch w;
    int fds[2];
    memset(&w, 0, sizeof w);
    CHECK(pipe(fds) == 0);
    w.fd = fds[0];
    w.read_on_call = 3; /* not read on the first two calls: the fd stays readable */
    CHECK_OK(pl_watch_fd(lp, fds[0], PL_READABLE, on_readable, &w, NULL, &w.id));
    CHECK_EQ(pl_watcher_active(lp, w.id), 1);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("readable readable readable close");
    CHECK_EQ(w.last_status, 0);
    CHECK_EQ(w.last_events, PL_READABLE);
    close(fds[0]);
    close(fds[1]);
    CHECK_OK(pl_loop_free(lp));
}

static void on_writable(pl_loop *lp, void *data, int status, int events) {
    watch *w = data;
    w->calls++;
    w->last_status = status;
    w->last_events = events;
    CHECK_OK(pl_watcher_stop(lp, w->id));
}

TEST(stop_start_ref_and_unref) {
    pl_loop *lp = virtual_loop();
    watch w;
    int fds[2];
    memset(&w, 0, sizeof w);
    CHECK(pipe(fds) == 0);
    CHECK_OK(pl_watch_fd(lp, fds[1], PL_WRITABLE, on_writable, &w, NULL, &w.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0); /* runs once, stops itself: nothing left */
    CHECK_EQ(w.calls, 1);
    CHECK_EQ(w.last_events, PL_WRITABLE);
    CHECK_EQ(pl_watcher_active(lp, w.id), 0);
    CHECK_OK(pl_watcher_start(lp, w.id, PL_WRITABLE | PL_READABLE));
    CHECK_EQ(pl_alive(lp), 1);
    CHECK_OK(pl_watcher_unref(lp, w.id));
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_OK(pl_watcher_ref(lp, w.id));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(w.calls, 2);
    CHECK_EQ(w.last_events, PL_WRITABLE); /* a pipe's write end is never readable */
    CHECK_STATUS(pl_watcher_start(lp, w.id, 0), PL_EINVAL);
    CHECK_OK(pl_watcher_close(lp, w.id, NULL, NULL, NULL));
    close(fds[0]);
    close(fds[1]);
    CHECK_OK(pl_loop_free(lp));
}

static void closes_its_fd(pl_loop *lp, void *data, int status, int events) {
    watch *w = data;
    (void)lp;
    w->calls++;
    w->last_status = status;
    w->last_events = events;
    if (w->calls == 1) close(w->fd); /* closed under the watcher, not read */
}

TEST(a_closed_fd_is_reported_once_and_stops_the_watcher) {
    pl_loop *lp = virtual_loop();
    watch w;
    int fds[2];
    memset(&w, 0, sizeof w);
    CHECK(pipe(fds) == 0);
    w.fd = fds[0];
    CHECK_OK(pl_watch_fd(lp, fds[0], PL_READABLE, closes_its_fd, &w, NULL, &w.id));
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(w.calls, 2);
    CHECK_STATUS(w.last_status, -EBADF);
    CHECK_EQ(w.last_events, 0);
    CHECK_EQ(pl_watcher_active(lp, w.id), 0);
    CHECK_OK(pl_watcher_close(lp, w.id, NULL, NULL, NULL)); /* still needs closing */
    close(fds[1]);
    CHECK_OK(pl_loop_free(lp));
}

/* ----- signals ---------------------------------------------------------------------------------- */

typedef struct sig_watch {
    pl_id id;
    const char *name;
} sig_watch;

static void on_signal(pl_loop *lp, void *data, int signum) {
    sig_watch *s = data;
    char entry[LOG_ENTRY];
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    snprintf(entry, sizeof entry, "%s:%s", s->name, signum == SIGUSR1 ? "SIGUSR1" : "other");
    log_push(entry);
    CHECK_OK(pl_signal_close(lp, s->id, NULL, NULL, NULL));
}

TEST(signal_watchers) {
    pl_loop *lp = virtual_loop();
    sig_watch a = {0, "a"}, b = {0, "b"}, stopped = {0, "stopped"};
    CHECK_OK(pl_watch_signal(lp, SIGUSR1, on_signal, &a, NULL, &a.id));
    CHECK_OK(pl_watch_signal(lp, SIGUSR1, on_signal, &b, NULL, &b.id));
    CHECK_OK(pl_watch_signal(lp, SIGUSR1, on_signal, &stopped, NULL, &stopped.id));
    CHECK_OK(pl_signal_stop(lp, stopped.id));
    CHECK_EQ(pl_signal_active(lp, stopped.id), 0);
    CHECK_OK(pl_signal_unref(lp, stopped.id));
    CHECK_OK(pl_signal_ref(lp, stopped.id));
    CHECK(raise(SIGUSR1) == 0);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("a:SIGUSR1 b:SIGUSR1");
    CHECK_OK(pl_signal_start(lp, stopped.id));
    CHECK_EQ(pl_signal_active(lp, stopped.id), 1);
    CHECK(raise(SIGUSR1) == 0);
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_LOG("a:SIGUSR1 b:SIGUSR1 stopped:SIGUSR1");
    CHECK_OK(pl_loop_free(lp));
}

TEST(the_signal_wakeup_fd_wakes_a_blocked_poll) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id t;
    int fd, again;
    struct timespec start, end;
    CHECK(lp != NULL);
    CHECK_OK(pl_signal_wakeup_fd(lp, &fd));
    CHECK(fd >= 0);
    CHECK_OK(pl_signal_wakeup_fd(lp, &again));
    CHECK_EQ(fd, again);
    CHECK_OK(pl_set_timeout(lp, 60000, log_cb, "never", NULL, &t));
    CHECK(write(fd, "", 1) == 1);
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK_EQ(pl_run(lp, PL_RUN_ONCE), 1); /* woken at once instead of after 60 s */
    clock_gettime(CLOCK_MONOTONIC, &end);
    CHECK(end.tv_sec - start.tv_sec < 30);
    CHECK_LOG("");
    CHECK_OK(pl_loop_free(lp));
}

int main(void) {
    RUN(an_fd_watcher_is_level_triggered);
    RUN(stop_start_ref_and_unref);
    RUN(a_closed_fd_is_reported_once_and_stops_the_watcher);
    RUN(signal_watchers);
    RUN(the_signal_wakeup_fd_wakes_a_blocked_poll);
    return 0;
}
