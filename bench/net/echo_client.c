/* The echo benchmark's load generator, the same for every server (vmbench's shape): CONNS
 * connections, each sending a SIZE-byte message and waiting for all of it to come back before
 * the next, until REQUESTS round trips are done in all. Every echoed byte is checked. Prints
 * `rps <requests per second>` and `ns_per_request <ns>`.
 *
 *   echo_client PORT SIZE CONNS REQUESTS */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    size_t sent, got;
} conn;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    int port, conns, ep, i, one = 1;
    size_t size;
    long requests, done = 0, started = 0;
    unsigned char *msg, *buf;
    conn *cs;
    struct sockaddr_in addr;
    struct epoll_event ev, events[256];
    double t0, t1;
    if (argc != 5) {
        fprintf(stderr, "usage: echo_client PORT SIZE CONNS REQUESTS\n");
        return 2;
    }
    port = atoi(argv[1]);
    size = (size_t)atol(argv[2]);
    conns = atoi(argv[3]);
    requests = atol(argv[4]);
    msg = malloc(size);
    buf = malloc(size);
    cs = calloc((size_t)conns, sizeof *cs);
    if (!msg || !buf || !cs) fail("malloc");
    for (i = 0; i < (int)size; i++) msg[i] = (unsigned char)('a' + i % 26);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(0);
    for (i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (cs[i].fd < 0) fail("socket");
        if (connect(cs[i].fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail("connect");
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        {
            /* Room for a whole message each way, so a blocking write never waits on a reply. */
            int room = (int)(size * 2 + 65536);
            setsockopt(cs[i].fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
            setsockopt(cs[i].fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
        }
        ev.events = EPOLLIN;
        ev.data.u32 = (unsigned)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    t0 = now();
    for (i = 0; i < conns && started < requests; i++, started++) {
        if (write(cs[i].fd, msg, size) != (ssize_t)size) fail("write");
    }
    while (done < requests) {
        int n = epoll_wait(ep, events, 256, 10000), k;
        if (n <= 0) fail("epoll_wait (a server stopped answering)");
        for (k = 0; k < n; k++) {
            conn *c = &cs[events[k].data.u32];
            ssize_t r = read(c->fd, buf, size - c->got);
            if (r <= 0) fail("read (the server closed)");
            if (memcmp(buf, msg + c->got, (size_t)r) != 0) {
                fprintf(stderr, "wrong echo\n");
                return 1;
            }
            c->got += (size_t)r;
            if (c->got == size) {
                c->got = 0;
                done++;
                if (started < requests) {
                    started++;
                    if (write(c->fd, msg, size) != (ssize_t)size) fail("write");
                }
            }
        }
    }
    t1 = now();
    printf("rps %.0f\nns_per_request %.0f\n", (double)requests / (t1 - t0), (t1 - t0) * 1e9 / (double)requests);
    for (i = 0; i < conns; i++) close(cs[i].fd);
    return 0;
}
