/* libuv's side of bench/net/udp_spawn.py: the same two workloads as pl_udp_spawn.c, written
 * as a libuv program would write them.
 *
 *   uv_udp_spawn udp N | spawn N      prints `ns_per_op <ns>` */
#define _POSIX_C_SOURCE 200809L
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct bench {
    long n, done;
    int failed;
    uv_udp_t ping, pong;
    struct sockaddr_in pong_addr;
    char payload[64];
    char echo[64];
    char rbuf[65536];
    uv_udp_send_t ping_req, pong_req;
} bench;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    bench *b = h->data;
    (void)suggested;
    *buf = uv_buf_init(b->rbuf, sizeof b->rbuf);
}

static void sent(uv_udp_send_t *req, int status) {
    bench *b = req->data;
    if (status < 0) b->failed = 1;
}

static void send_ping(bench *b) {
    uv_buf_t buf = uv_buf_init(b->payload, sizeof b->payload);
    b->ping_req.data = b;
    if (uv_udp_send(&b->ping_req, &b->ping, &buf, 1, (const struct sockaddr *)&b->pong_addr, sent) < 0)
        b->failed = 1;
}

static void on_pong_side(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                         unsigned flags) {
    bench *b = h->data;
    uv_buf_t out;
    (void)flags;
    if (nread == 0 && addr == NULL) return;
    if (nread < 0 || (size_t)nread > sizeof b->echo) { b->failed = 1; return; }
    memcpy(b->echo, buf->base, (size_t)nread);
    out = uv_buf_init(b->echo, (unsigned)nread);
    b->pong_req.data = b;
    if (uv_udp_send(&b->pong_req, h, &out, 1, addr, sent) < 0) b->failed = 1;
}

static void on_ping_side(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                         unsigned flags) {
    bench *b = h->data;
    (void)flags;
    if (nread == 0 && addr == NULL) return;
    if (nread != (ssize_t)sizeof b->payload || memcmp(buf->base, b->payload, sizeof b->payload) != 0)
        b->failed = 1;
    if (++b->done < b->n && !b->failed) {
        send_ping(b);
    } else {
        uv_close((uv_handle_t *)&b->ping, NULL);
        uv_close((uv_handle_t *)&b->pong, NULL);
    }
}

static int udp(long n) {
    uv_loop_t loop;
    struct sockaddr_in any;
    int len = (int)sizeof(struct sockaddr_in);
    bench *b = calloc(1, sizeof *b);
    double t0;
    if (b == NULL) return 1;
    b->n = n;
    memset(b->payload, 'x', sizeof b->payload);
    uv_loop_init(&loop);
    uv_ip4_addr("127.0.0.1", 0, &any);
    uv_udp_init(&loop, &b->pong);
    uv_udp_init(&loop, &b->ping);
    b->pong.data = b->ping.data = b;
    if (uv_udp_bind(&b->pong, (const struct sockaddr *)&any, 0) < 0 ||
        uv_udp_bind(&b->ping, (const struct sockaddr *)&any, 0) < 0)
        return 1;
    uv_udp_getsockname(&b->pong, (struct sockaddr *)&b->pong_addr, &len);
    uv_udp_recv_start(&b->pong, alloc_cb, on_pong_side);
    uv_udp_recv_start(&b->ping, alloc_cb, on_ping_side);
    t0 = now_ns();
    send_ping(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    printf("ns_per_op %.1f\n", (now_ns() - t0) / (double)n);
    uv_loop_close(&loop);
    n = b->failed || b->done != n;
    free(b);
    return (int)n;
}

typedef struct spawner {
    long n, done;
    int failed;
} spawner;

static int spawn_one(uv_loop_t *loop, spawner *s);

static void closed(uv_handle_t *h) { free(h); }

static void on_exit_cb(uv_process_t *p, int64_t status, int signal) {
    spawner *s = p->data;
    if (status != 0 || signal != 0) s->failed = 1;
    uv_close((uv_handle_t *)p, closed);
    /* The next child starts from the exit callback, as pl_udp_spawn.c's does. */
    if (++s->done < s->n && !s->failed && spawn_one(p->loop, s) < 0) s->failed = 1;
}

static int spawn_one(uv_loop_t *loop, spawner *s) {
    char *args[] = {"/bin/true", NULL};
    uv_process_options_t opts;
    uv_process_t *proc = malloc(sizeof *proc);
    int rc;
    if (proc == NULL) return UV_ENOMEM;
    memset(&opts, 0, sizeof opts);
    opts.file = "/bin/true";
    opts.args = args;
    opts.exit_cb = on_exit_cb;
    proc->data = s;
    rc = uv_spawn(loop, proc, &opts);
    if (rc < 0) uv_close((uv_handle_t *)proc, closed);
    return rc;
}

static int spawn(long n) {
    uv_loop_t loop;
    spawner s;
    double t0;
    memset(&s, 0, sizeof s);
    s.n = n;
    uv_loop_init(&loop);
    t0 = now_ns();
    if (spawn_one(&loop, &s) < 0) return 1;
    uv_run(&loop, UV_RUN_DEFAULT);
    printf("ns_per_op %.1f\n", (now_ns() - t0) / (double)n);
    uv_loop_close(&loop);
    return s.failed || s.done != n;
}

int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (argc < 3 || n < 1) {
        fprintf(stderr, "usage: uv_udp_spawn udp|spawn N\n");
        return 2;
    }
    if (strcmp(argv[1], "udp") == 0) return udp(n);
    if (strcmp(argv[1], "spawn") == 0) return spawn(n);
    fprintf(stderr, "uv_udp_spawn: no workload %s\n", argv[1]);
    return 2;
}
