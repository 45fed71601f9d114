/* Child processes from C: /bin/echo with stdout piped (the bytes, the exit status and the phase
 * asserted), stdin and stdout piped through cat, env and cwd, an exit code, a child killed by a
 * signal (its term signal asserted), the spawn failures libuv returns at once (a missing program
 * or cwd: PL_ENOENT; a file that is not executable: PL_EACCES), the sized options struct, bad
 * input, and a loop freed with a child and a lookup in flight (their data released once, the
 * child reaped: no zombie). */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char entry[64];

static void logf2(pl_loop *lp, const char *what) {
    snprintf(entry, sizeof entry, "%s:%s", pl_phase_name(pl_current_phase(lp)), what);
    log_push(entry);
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Whether `pid` is gone for good (reaped), waiting up to five seconds: a zombie still answers
 * kill(pid, 0). */
static int reaped(int pid) {
    int i;
    for (i = 0; i < 500; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH) return 1;
        sleep_ms(10);
    }
    return 0;
}

/* ----- a child with its output piped --------------------------------------------------------- */

typedef struct child {
    pl_id process;
    pl_id stdio[3];
    char out[256];
    size_t len;
    int eof;
    int exited;
    int64_t status;
    int signal;
    int pid;
} child;

static void maybe_close(pl_loop *lp, child *c) {
    if (c->eof && c->exited) {
        CHECK_OK(pl_handle_close(lp, c->stdio[1], NULL, NULL, NULL));
        CHECK_OK(pl_handle_close(lp, c->process, NULL, NULL, NULL));
    }
}

static void on_out(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    child *c = data;
    CHECK_EQ(stream, c->stdio[1]);
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    if (nread > 0) {
        CHECK(c->len + (size_t)nread < sizeof c->out);
        memcpy(c->out + c->len, buf, (size_t)nread);
        c->len += (size_t)nread;
        return;
    }
    CHECK_EQ(nread, PL_EOF);
    c->eof = 1;
    maybe_close(lp, c);
}

static void on_exit_cb(pl_loop *lp, pl_id process, void *data, int64_t status, int signal) {
    child *c = data;
    CHECK_EQ(process, c->process);
    logf2(lp, "exit");
    c->exited = 1;
    c->status = status;
    c->signal = signal;
    /* Reaped before its callback: no zombie, and no more signals to it. */
    CHECK(kill(c->pid, 0) < 0 && errno == ESRCH);
    CHECK_STATUS(pl_process_kill(lp, process, SIGTERM), PL_ESRCH);
    CHECK_EQ(pl_process_pid(lp, process), c->pid);
    maybe_close(lp, c);
}

static void spawn_piped(pl_loop *lp, child *c, pl_spawn_options *o) {
    memset(c, 0, sizeof *c);
    o->stdio[1].kind = PL_STDIO_PIPE;
    o->stdio[2].kind = PL_STDIO_INHERIT;
    CHECK_OK(pl_spawn(lp, o, on_exit_cb, c, NULL, &c->process, c->stdio));
    CHECK(c->process != 0);
    CHECK_EQ(c->stdio[0], 0);
    CHECK(c->stdio[1] != 0);
    CHECK_EQ(c->stdio[2], 0);
    c->pid = pl_process_pid(lp, c->process);
    CHECK(c->pid > 0);
    CHECK_OK(pl_read_start(lp, c->stdio[1], on_out, c, NULL));
}

TEST(echo_with_stdout_piped_delivers_its_bytes_and_exits_zero_in_the_poll_phase) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    child c;
    const char *args[] = {"echo", "hello", "world", NULL};
    CHECK_OK(pl_spawn_options_init(&o));
    CHECK_EQ(o.struct_size, sizeof o);
    o.file = "/bin/echo";
    o.args = args;
    spawn_piped(lp, &c, &o);
    CHECK_EQ(pl_is_active(lp, c.process), 1);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(c.len, 12);
    CHECK(memcmp(c.out, "hello world\n", 12) == 0);
    CHECK_EQ(c.exited, 1);
    CHECK_EQ(c.status, 0);
    CHECK_EQ(c.signal, 0);
    CHECK_LOG("poll:exit");
    CHECK(reaped(c.pid));
    CHECK_OK(pl_loop_free(lp));
}

TEST(env_cwd_and_the_exit_code_reach_the_child) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    child c;
    const char *args[] = {"sh", "-c", "echo \"$GREETING:$(pwd)\"; exit 3", NULL};
    const char *env[] = {"GREETING=bonjour", "PATH=/usr/bin:/bin", NULL};
    CHECK_OK(pl_spawn_options_init(&o));
    o.file = "sh"; /* looked up in PATH */
    o.args = args;
    o.env = env;
    o.cwd = "/";
    spawn_piped(lp, &c, &o);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(c.len, 10);
    CHECK(memcmp(c.out, "bonjour:/\n", 10) == 0);
    CHECK_EQ(c.status, 3);
    CHECK_EQ(c.signal, 0);
    CHECK_OK(pl_loop_free(lp));
}

static void on_written(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)stream, (void)data;
    CHECK_OK(status);
    logf2(lp, "written");
}

static void on_shut(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)data;
    CHECK_OK(status);
    CHECK_OK(pl_handle_close(lp, stream, NULL, NULL, NULL));
}

TEST(cat_reads_what_stdin_is_written_and_writes_it_back) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    child c;
    static const pl_buf chunks[2] = {{(const uint8_t *)"round ", 6}, {(const uint8_t *)"trip", 4}};
    CHECK_OK(pl_spawn_options_init(&o));
    o.file = "/bin/cat";
    o.stdio[0].kind = PL_STDIO_PIPE;
    o.stdio[1].kind = PL_STDIO_PIPE;
    memset(&c, 0, sizeof c);
    CHECK_OK(pl_spawn(lp, &o, on_exit_cb, &c, NULL, &c.process, c.stdio));
    c.pid = pl_process_pid(lp, c.process);
    CHECK(c.stdio[0] != 0 && c.stdio[1] != 0 && c.stdio[2] == 0);
    CHECK_OK(pl_read_start(lp, c.stdio[1], on_out, &c, NULL));
    CHECK_OK(pl_write(lp, c.stdio[0], chunks, 2, on_written, NULL, NULL));
    /* cat ends when its stdin does. */
    CHECK_OK(pl_shutdown(lp, c.stdio[0], on_shut, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(c.len, 10);
    CHECK(memcmp(c.out, "round trip", 10) == 0);
    CHECK_EQ(c.status, 0);
    CHECK_EQ(c.eof, 1);
    CHECK_OK(pl_loop_free(lp));
}

static void killed(pl_loop *lp, pl_id process, void *data, int64_t status, int signal) {
    child *c = data;
    (void)process;
    logf2(lp, "exit");
    c->exited = 1;
    c->status = status;
    c->signal = signal;
    CHECK_OK(pl_handle_close(lp, process, log_cb, "closed", NULL));
}

TEST(a_child_killed_by_a_signal_reports_its_term_signal) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    child c;
    const char *args[] = {"sleep", "30", NULL};
    memset(&c, 0, sizeof c);
    CHECK_OK(pl_spawn_options_init(&o));
    o.file = "/bin/sleep";
    o.args = args;
    CHECK_OK(pl_spawn(lp, &o, killed, &c, NULL, &c.process, NULL));
    c.pid = pl_process_pid(lp, c.process);
    CHECK_STATUS(pl_process_kill(lp, c.process, 99999), PL_EINVAL);
    CHECK_OK(pl_process_kill(lp, c.process, SIGTERM));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(c.exited, 1);
    CHECK_EQ(c.status, 0);
    CHECK_EQ(c.signal, SIGTERM);
    CHECK_LOG("poll:exit closed");
    /* Closed: the id is stale now. */
    CHECK_STATUS(pl_process_pid(lp, c.process), PL_ENOENT);
    CHECK_STATUS(pl_process_kill(lp, c.process, SIGTERM), PL_ENOENT);
    CHECK(reaped(c.pid));
    CHECK_OK(pl_loop_free(lp));
}

/* ----- spawn failures, returned at once ------------------------------------------------------- */

static void never_exits(pl_loop *lp, pl_id process, void *data, int64_t status, int signal) {
    (void)lp, (void)process, (void)data, (void)status, (void)signal;
    CHECK(!"nothing was spawned");
}

static int spawn_status(pl_loop *lp, pl_spawn_options *o, counted *c, pl_id *out, pl_id *stdio) {
    return pl_spawn(lp, o, never_exits, c, count_drop, out, stdio);
}

TEST(spawn_failures_come_back_at_once_and_take_nothing) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    counted c = {0, 0};
    pl_id process = 0, stdio[3] = {0, 0, 0};
    char path[] = "/tmp/phaseloop-not-executable-XXXXXX";
    int fd;

    CHECK_OK(pl_spawn_options_init(&o));
    o.file = "/nonexistent/program";
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_ENOENT);
    o.file = "phaseloop-no-such-program-in-path";
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_ENOENT);

    o.file = "/bin/true";
    o.cwd = "/nonexistent/directory";
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_ENOENT);
    o.cwd = NULL;

    fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "#!/bin/sh\n", 10) == 10);
    close(fd);
    CHECK(chmod(path, 0644) == 0);
    o.file = path;
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EACCES);
    unlink(path);

    /* Nothing started, nothing taken: no id, no pipes, no drop, the loop has nothing to do. */
    CHECK_EQ(process, 0);
    CHECK_EQ(stdio[0] + stdio[1] + stdio[2], 0);
    CHECK_EQ(c.drops, 0);
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_OK(pl_loop_free(lp));
}

TEST(bad_options_are_einval_and_the_struct_size_is_honoured) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options o;
    counted c = {0, 0};
    pl_id process = 0, stdio[3] = {0, 0, 0};
    const char *bad_env[] = {"NO_EQUALS_SIGN", NULL};
    /* A program built against a later header: a larger struct, its unknown tail ignored. */
    struct {
        pl_spawn_options o;
        char later_fields[32];
    } later;
    child k;

    CHECK_STATUS(pl_spawn_options_init(NULL), PL_EINVAL);
    CHECK_OK(pl_spawn_options_init(&o));
    CHECK_STATUS(spawn_status(NULL, &o, &c, &process, stdio), PL_EINVAL);
    CHECK_STATUS(spawn_status(lp, NULL, &c, &process, stdio), PL_EINVAL);
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EINVAL); /* no file */
    o.file = "/bin/true";
    CHECK_STATUS(spawn_status(lp, &o, &c, NULL, stdio), PL_EINVAL);
    o.struct_size = sizeof(size_t);
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EINVAL);
    o.struct_size = sizeof o;
    o.stdio[0].kind = 9;
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EINVAL);
    o.stdio[0].kind = PL_STDIO_FD;
    o.stdio[0].fd = -1;
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EINVAL);
    o.stdio[0].kind = PL_STDIO_PIPE;
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, NULL), PL_EINVAL); /* pipes need stdio_out */
    o.stdio[0].kind = PL_STDIO_IGNORE;
    o.env = bad_env;
    CHECK_STATUS(spawn_status(lp, &o, &c, &process, stdio), PL_EINVAL);
    CHECK_EQ(process, 0);
    CHECK_EQ(c.drops, 0);
    CHECK_STATUS(pl_process_kill(lp, 0, SIGTERM), PL_ENOENT);
    CHECK_STATUS(pl_process_pid(lp, 0), PL_ENOENT);
    CHECK_STATUS(pl_process_pid(NULL, 1), PL_EINVAL);

    memset(&later, 0x5a, sizeof later);
    CHECK_OK(pl_spawn_options_init(&later.o));
    later.o.struct_size = sizeof later;
    later.o.file = "/bin/echo";
    spawn_piped(lp, &k, &later.o);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(k.len, 1); /* echo without arguments: a newline */
    CHECK_EQ(k.status, 0);
    CHECK_OK(pl_loop_free(lp));
}

/* ----- freeing the loop with a child and a lookup in flight ---------------------------------- */

static void lookup_never(pl_loop *lp, void *data, int status, int gai, const pl_addrinfo *a, size_t n) {
    (void)lp, (void)data, (void)status, (void)gai, (void)a, (void)n;
    CHECK(!"the loop was freed first");
}

TEST(freeing_the_loop_with_a_child_and_a_lookup_in_flight_leaks_nothing_and_leaves_no_zombie) {
    pl_options opts;
    pl_loop *lp;
    pl_spawn_options o;
    counted exit_data = {0, 0}, lookup_data = {0, 0};
    pl_id process, stdio[3], sleeper;
    const char *args[] = {"sleep", "30", NULL};
    int pid;
    CHECK_OK(pl_options_init(&opts));
    opts.threadpool_size = 1;
    lp = pl_loop_new(&opts);
    CHECK_OK(pl_spawn_options_init(&o));
    o.file = "/bin/sleep";
    o.args = args;
    o.stdio[0].kind = PL_STDIO_PIPE;
    o.stdio[1].kind = PL_STDIO_PIPE;
    CHECK_OK(pl_spawn(lp, &o, never_exits, &exit_data, count_drop, &process, stdio));
    pid = pl_process_pid(lp, process);
    CHECK(pid > 0);
    /* The pool's one thread sleeps, so the lookup is still queued when the loop goes. */
    CHECK_OK(pl_job_sleep(lp, 50, NULL, NULL, NULL, &sleeper));
    CHECK_OK(pl_getaddrinfo(lp, "localhost", 0, lookup_never, &lookup_data, count_drop, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_NOWAIT), 1); /* still alive: the child runs, the jobs wait */
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(exit_data.drops, 1);
    CHECK_EQ(lookup_data.drops, 1);
    CHECK_EQ(exit_data.runs + lookup_data.runs, 0);
    /* The child outlived its loop and was not killed; once it ends, the library reaps it. */
    CHECK(kill(pid, 0) == 0);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(reaped(pid));
    /* Let the reaping thread finish before the process exits. */
    sleep_ms(100);
}

int main(void) {
    RUN(echo_with_stdout_piped_delivers_its_bytes_and_exits_zero_in_the_poll_phase);
    RUN(env_cwd_and_the_exit_code_reach_the_child);
    RUN(cat_reads_what_stdin_is_written_and_writes_it_back);
    RUN(a_child_killed_by_a_signal_reports_its_term_signal);
    RUN(spawn_failures_come_back_at_once_and_take_nothing);
    RUN(bad_options_are_einval_and_the_struct_size_is_honoured);
    RUN(freeing_the_loop_with_a_child_and_a_lookup_in_flight_leaks_nothing_and_leaves_no_zombie);
    return 0;
}
