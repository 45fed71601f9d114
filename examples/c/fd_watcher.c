/* Watching a file descriptor: a thread writes lines into a pipe, the loop reads them in its
 * poll phase as they arrive, and closes the watcher at end of file (its close callback runs in
 * the close phase).
 *
 *   cc -pthread fd_watcher.c $(pkg-config --cflags --libs phaseloop) -o fd_watcher && ./fd_watcher */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct reader {
    int fd;
    pl_id watcher;
    int lines;
} reader;

static void *writer(void *arg) {
    int fd = *(int *)arg;
    const char *lines[] = {"first line\n", "second line\n", "third line\n"};
    struct timespec pause = {0, 10 * 1000 * 1000};
    size_t i;
    for (i = 0; i < 3; i++) {
        if (write(fd, lines[i], strlen(lines[i])) < 0) break;
        nanosleep(&pause, NULL);
    }
    close(fd); /* end of file for the reader */
    return NULL;
}

static void closed(pl_loop *lp, void *data) {
    reader *r = data;
    printf("watcher closed in the %s phase after %d chunk(s)\n",
           pl_phase_name(pl_current_phase(lp)), r->lines);
}

static void on_readable(pl_loop *lp, void *data, int status, int events) {
    reader *r = data;
    char buf[256];
    ssize_t n;
    if (status < 0) {
        printf("watch failed: %s\n", pl_strerror(status));
        return;
    }
    (void)events;
    n = read(r->fd, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        r->lines++;
        printf("read %zd bytes in the %s phase: %s", n, pl_phase_name(pl_current_phase(lp)), buf);
    } else {
        /* End of file (or an error): stop watching. The fd is ours to close. */
        pl_watcher_close(lp, r->watcher, closed, r, NULL);
    }
}

int main(void) {
    pl_loop *lp = pl_loop_new(NULL);
    reader r = {-1, 0, 0};
    int fds[2];
    pthread_t thread;
    if (lp == NULL || pipe(fds) != 0) return 1;
    r.fd = fds[0];
    if (pl_watch_fd(lp, fds[0], PL_READABLE, on_readable, &r, NULL, &r.watcher) != PL_OK) return 1;
    pthread_create(&thread, NULL, writer, &fds[1]);
    if (pl_run(lp, PL_RUN_DEFAULT) < 0) return 1; /* until the watcher is closed */
    pthread_join(thread, NULL);
    close(fds[0]);
    return pl_loop_free(lp) == PL_OK ? 0 : 1;
}
