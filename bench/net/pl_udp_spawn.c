/* phaseloop's side of bench/net/udp_spawn.py, from C.
 *
 *   pl_udp_spawn udp N     N UDP round trips on loopback, one in flight: a ping socket sends
 *                          64 bytes, a pong socket sends them back, both on one loop
 *   pl_udp_spawn spawn N   N spawns of /bin/true, one after the other, each waited for
 *
 * prints `ns_per_op <ns>` and exits non-zero when a round trip or a child went wrong. */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <sys/socket.h>

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
    pl_id ping, pong;
    struct sockaddr_storage pong_addr;
    uint8_t payload[64];
    uint8_t echo[64]; /* the pong's copy: one datagram is in flight at a time */
} bench;

static void send_ping(pl_loop *lp, bench *b) {
    pl_buf buf = {b->payload, sizeof b->payload};
    if (pl_udp_send(lp, b->ping, &buf, 1, &b->pong_addr, NULL, NULL, NULL) < 0) b->failed = 1;
}

static void on_pong_side(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                         const void *addr, int flags) {
    bench *b = data;
    pl_buf out = {b->echo, (size_t)nread};
    (void)flags;
    if (nread < 0 || (size_t)nread > sizeof b->echo) { b->failed = 1; return; }
    if (nread == 0 && addr == NULL) return;
    /* The loop's buffer is valid only now and a send borrows its bytes: echo a copy. */
    memcpy(b->echo, buf, (size_t)nread);
    if (pl_udp_send(lp, socket, &out, 1, addr, NULL, NULL, NULL) < 0) b->failed = 1;
}

static void on_ping_side(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                         const void *addr, int flags) {
    bench *b = data;
    (void)socket, (void)flags;
    if (nread == 0 && addr == NULL) return;
    if (nread != (ptrdiff_t)sizeof b->payload || memcmp(buf, b->payload, sizeof b->payload) != 0) {
        b->failed = 1;
    }
    if (++b->done < b->n && !b->failed) {
        send_ping(lp, b);
    } else {
        pl_handle_close(lp, b->ping, NULL, NULL, NULL);
        pl_handle_close(lp, b->pong, NULL, NULL, NULL);
    }
}

static int udp(long n) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage any;
    int len = (int)sizeof any;
    bench b;
    double t0;
    memset(&b, 0, sizeof b);
    b.n = n;
    memset(b.payload, 'x', sizeof b.payload);
    pl_ip_addr("127.0.0.1", 0, &any, &len);
    if (lp == NULL || pl_udp_open(lp, 4, &b.pong) < 0 || pl_udp_bind(lp, b.pong, &any, 0) < 0 ||
        pl_udp_open(lp, 4, &b.ping) < 0 || pl_udp_bind(lp, b.ping, &any, 0) < 0) {
        return 1;
    }
    len = (int)sizeof b.pong_addr;
    pl_udp_getsockname(lp, b.pong, &b.pong_addr, &len);
    pl_udp_recv_start(lp, b.pong, on_pong_side, &b, NULL);
    pl_udp_recv_start(lp, b.ping, on_ping_side, &b, NULL);
    t0 = now_ns();
    send_ping(lp, &b);
    pl_run(lp, PL_RUN_DEFAULT);
    printf("ns_per_op %.1f\n", (now_ns() - t0) / (double)n);
    pl_loop_free(lp);
    return b.failed || b.done != n;
}

typedef struct spawner {
    long n, done;
    int failed;
} spawner;

static int spawn_one(pl_loop *lp, spawner *s);

static void on_exit_cb(pl_loop *lp, pl_id process, void *data, int64_t status, int signal) {
    spawner *s = data;
    if (status != 0 || signal != 0) s->failed = 1;
    pl_handle_close(lp, process, NULL, NULL, NULL);
    if (++s->done < s->n && !s->failed && spawn_one(lp, s) < 0) s->failed = 1;
}

static int spawn_one(pl_loop *lp, spawner *s) {
    const char *args[] = {"/bin/true", NULL};
    pl_spawn_options opts;
    pl_id id;
    pl_spawn_options_init(&opts);
    opts.file = "/bin/true";
    opts.args = args;
    return pl_spawn(lp, &opts, on_exit_cb, s, NULL, &id, NULL);
}

static int spawn(long n) {
    pl_loop *lp = pl_loop_new(NULL);
    spawner s = {n, 0, 0};
    double t0;
    if (lp == NULL) return 1;
    t0 = now_ns();
    if (spawn_one(lp, &s) < 0) return 1;
    pl_run(lp, PL_RUN_DEFAULT);
    printf("ns_per_op %.1f\n", (now_ns() - t0) / (double)n);
    pl_loop_free(lp);
    return s.failed || s.done != n;
}

int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (argc < 3 || n < 1) {
        fprintf(stderr, "usage: pl_udp_spawn udp|spawn N\n");
        return 2;
    }
    if (strcmp(argv[1], "udp") == 0) return udp(n);
    if (strcmp(argv[1], "spawn") == 0) return spawn(n);
    fprintf(stderr, "pl_udp_spawn: no workload %s\n", argv[1]);
    return 2;
}
