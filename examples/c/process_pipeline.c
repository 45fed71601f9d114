/* A process pipeline: spawns `tr a-z A-Z` with its stdin and stdout piped, writes text to its
 * stdin, shuts stdin so the child sees its end, reads what it prints, and waits for its exit.
 * The exit callback and the reads run in the poll phase; the exit may come before or after the
 * last read, so the program closes the handles once it has both. Exits 0 when the child
 * printed the text upper-cased and exited 0.
 *
 *   cc process_pipeline.c $(pkg-config --cflags --libs phaseloop) -o process_pipeline
 *   ./process_pipeline [TEXT] */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pipeline {
    pl_id process;
    pl_id stdio[3];
    char out[4096];
    size_t len;
    int eof, exited;
    int64_t exit_status;
    int term_signal;
} pipeline;

static const char *phase(pl_loop *lp) { return pl_phase_name(pl_current_phase(lp)); }

static void finish_if_done(pl_loop *lp, pipeline *p) {
    if (!p->eof || !p->exited) return;
    pl_handle_close(lp, p->stdio[1], NULL, NULL, NULL);
    pl_handle_close(lp, p->process, NULL, NULL, NULL);
}

static void on_stdout(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    pipeline *p = data;
    (void)stream;
    if (nread > 0) {
        size_t room = sizeof p->out - p->len;
        size_t n = (size_t)nread < room ? (size_t)nread : room;
        printf("[%s] read %d bytes\n", phase(lp), (int)nread);
        memcpy(p->out + p->len, buf, n);
        p->len += n;
        return;
    }
    printf("[%s] stdout ended (%s)\n", phase(lp), pl_status_name((int)nread));
    p->eof = 1;
    finish_if_done(lp, p);
}

static void on_exit_cb(pl_loop *lp, pl_id process, void *data, int64_t exit_status, int term_signal) {
    pipeline *p = data;
    (void)process;
    printf("[%s] child exited: status %d, signal %d\n", phase(lp), (int)exit_status, term_signal);
    p->exited = 1;
    p->exit_status = exit_status;
    p->term_signal = term_signal;
    finish_if_done(lp, p);
}

static void on_stdin_shut(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)data;
    printf("[%s] stdin shut (%s)\n", phase(lp), pl_status_name(status));
    pl_handle_close(lp, stream, NULL, NULL, NULL);
}

int main(int argc, char **argv) {
    const char *text = argc > 1 ? argv[1] : "hello from the parent\n";
    const char *args[] = {"tr", "a-z", "A-Z", NULL};
    pl_loop *lp = pl_loop_new(NULL);
    pl_spawn_options opts;
    pl_buf buf;
    pipeline p;
    size_t i, n = strlen(text);
    int rc, ok;
    if (lp == NULL) return 2;
    memset(&p, 0, sizeof p);

    pl_spawn_options_init(&opts);
    opts.file = "tr"; /* found in PATH */
    opts.args = args;
    opts.stdio[0].kind = PL_STDIO_PIPE;
    opts.stdio[1].kind = PL_STDIO_PIPE;
    opts.stdio[2].kind = PL_STDIO_INHERIT;
    rc = pl_spawn(lp, &opts, on_exit_cb, &p, NULL, &p.process, p.stdio);
    if (rc < 0) {
        fprintf(stderr, "spawn: %s\n", pl_strerror(rc));
        return 1;
    }
    printf("spawned pid %d\n", pl_process_pid(lp, p.process));

    pl_read_start(lp, p.stdio[1], on_stdout, &p, NULL);
    /* `text` outlives the write, so it is lent, not copied; the shutdown waits for the write. */
    buf.base = (const uint8_t *)text;
    buf.len = n;
    pl_write(lp, p.stdio[0], &buf, 1, NULL, NULL, NULL);
    pl_shutdown(lp, p.stdio[0], on_stdin_shut, NULL, NULL);

    pl_run(lp, PL_RUN_DEFAULT);
    printf("child printed: %.*s", (int)p.len, p.out);
    ok = p.exited && p.exit_status == 0 && p.term_signal == 0 && p.len == n;
    for (i = 0; ok && i < n; i++) ok = p.out[i] == (char)toupper((unsigned char)text[i]);
    pl_loop_free(lp);
    return ok ? 0 : 1;
}
