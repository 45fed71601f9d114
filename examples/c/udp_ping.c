/* A UDP ping/pong on loopback: a "pong" socket answers every datagram with the same bytes, a
 * "ping" socket sends N pings one after the other and prints each round trip. The datagrams
 * arrive in the poll phase; a send the kernel takes inside pl_udp_send completes in the pending
 * phase. Exits 0 when every pong came back with its ping's bytes.
 *
 *   cc udp_ping.c $(pkg-config --cflags --libs phaseloop) -o udp_ping
 *   ./udp_ping [COUNT]    # default 3 */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct game {
    pl_id ping, pong;
    struct sockaddr_storage pong_addr;
    int count, sent, received;
    char payload[32];
    int failed;
} game;

static const char *phase(pl_loop *lp) { return pl_phase_name(pl_current_phase(lp)); }

static void on_sent(pl_loop *lp, pl_id socket, void *data, int status) {
    (void)socket;
    if (status < 0) {
        fprintf(stderr, "send failed: %s\n", pl_strerror(status));
        ((game *)data)->failed = 1;
        pl_stop(lp);
    }
}

static void send_ping(pl_loop *lp, game *g) {
    pl_buf buf;
    snprintf(g->payload, sizeof g->payload, "ping %d", ++g->sent);
    buf.base = (const uint8_t *)g->payload;
    buf.len = strlen(g->payload);
    /* g->payload stays unchanged until the pong comes back, so it may be lent. */
    pl_udp_send(lp, g->ping, &buf, 1, &g->pong_addr, on_sent, g, NULL);
}

/* The pong side: echo each datagram to its sender (the address is valid during the callback;
 * pl_udp_send reads it at once). The bytes are the loop's, so they are copied first. */
static void on_pong_side(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                         const void *addr, int flags) {
    pl_buf out;
    uint8_t *copy;
    (void)data, (void)flags;
    if (nread < 0) return;
    copy = malloc((size_t)nread + 1);
    if (copy == NULL) return;
    memcpy(copy, buf, (size_t)nread);
    out.base = copy;
    out.len = (size_t)nread;
    /* The copy is released by the send's drop function once the send is done with it. */
    pl_udp_send(lp, socket, &out, 1, addr, NULL, copy, free);
}

static void on_ping_side(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                         const void *addr, int flags) {
    game *g = data;
    char from[INET_ADDRSTRLEN];
    const struct sockaddr_in *sin = addr;
    (void)socket, (void)flags;
    if (nread < 0) {
        fprintf(stderr, "receive failed: %s\n", pl_strerror((int)nread));
        g->failed = 1;
        pl_stop(lp);
        return;
    }
    inet_ntop(AF_INET, &sin->sin_addr, from, sizeof from);
    printf("[%s] %.*s back from %s:%d\n", phase(lp), (int)nread, (const char *)buf, from,
           ntohs(sin->sin_port));
    if ((size_t)nread != strlen(g->payload) || memcmp(buf, g->payload, (size_t)nread) != 0) {
        fprintf(stderr, "pong does not match its ping\n");
        g->failed = 1;
    }
    if (++g->received < g->count) {
        send_ping(lp, g);
    } else {
        pl_handle_close(lp, g->ping, NULL, NULL, NULL);
        pl_handle_close(lp, g->pong, NULL, NULL, NULL);
    }
}

int main(int argc, char **argv) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage any;
    int len = (int)sizeof any, rc;
    game g;
    memset(&g, 0, sizeof g);
    g.count = argc > 1 ? atoi(argv[1]) : 3;
    if (lp == NULL || g.count < 1) return 2;

    /* Both sockets on 127.0.0.1, any free port; the ping side learns the pong side's port. */
    pl_ip_addr("127.0.0.1", 0, &any, &len);
    if ((rc = pl_udp_open(lp, 4, &g.pong)) < 0 || (rc = pl_udp_bind(lp, g.pong, &any, 0)) < 0 ||
        (rc = pl_udp_open(lp, 4, &g.ping)) < 0 || (rc = pl_udp_bind(lp, g.ping, &any, 0)) < 0) {
        fprintf(stderr, "udp: %s\n", pl_strerror(rc));
        return 1;
    }
    len = (int)sizeof g.pong_addr;
    pl_udp_getsockname(lp, g.pong, &g.pong_addr, &len);
    pl_udp_recv_start(lp, g.pong, on_pong_side, NULL, NULL);
    pl_udp_recv_start(lp, g.ping, on_ping_side, &g, NULL);
    send_ping(lp, &g);
    pl_run(lp, PL_RUN_DEFAULT);
    printf("%d of %d pongs\n", g.received, g.count);
    pl_loop_free(lp);
    return g.failed || g.received != g.count;
}
