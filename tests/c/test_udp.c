/* UDP sockets from C: a round trip on loopback with the bytes, the sender's address and the
 * phase of every callback asserted; a send to a port nobody listens on (fire-and-forget when
 * unconnected, PL_ECONNREFUSED on a connected socket); a datagram larger than the loop's 64 KiB
 * buffer (PL_EMSGSIZE) and the largest one that fits (delivered whole); the socket options;
 * bad input; and data released when sockets close or the loop is freed. */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static char entry[64];

static void logf2(pl_loop *lp, const char *what) {
    snprintf(entry, sizeof entry, "%s:%s", pl_phase_name(pl_current_phase(lp)), what);
    log_push(entry);
}

static unsigned short port_of(pl_loop *lp, pl_id socket) {
    struct sockaddr_storage addr;
    int len = (int)sizeof addr;
    CHECK_OK(pl_udp_getsockname(lp, socket, &addr, &len));
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    CHECK_EQ(addr.ss_family, AF_INET);
    CHECK_EQ(len, sizeof(struct sockaddr_in));
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* A bound socket on `ip`, port 0. */
static pl_id bound(pl_loop *lp, int family, const char *ip) {
    struct sockaddr_storage addr;
    int len = (int)sizeof addr;
    pl_id socket = 0;
    CHECK_OK(pl_udp_open(lp, family, &socket));
    CHECK(socket != 0);
    CHECK_OK(pl_ip_addr(ip, 0, &addr, &len));
    CHECK_OK(pl_udp_bind(lp, socket, &addr, 0));
    return socket;
}

static void sent(pl_loop *lp, pl_id socket, void *data, int status) {
    char what[48];
    (void)socket;
    snprintf(what, sizeof what, "%s:%s", (const char *)data, pl_status_name(status));
    logf2(lp, what);
}

/* ----- a round trip ------------------------------------------------------------------------ */

typedef struct trip {
    pl_id server, client;
    unsigned short client_port, server_port;
} trip;

static void server_got(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                       const void *addr, int flags) {
    trip *t = data;
    const struct sockaddr_in *from = addr;
    static const pl_buf pong = {(const uint8_t *)"pong", 4};
    CHECK_EQ(socket, t->server);
    CHECK_EQ(nread, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(flags, 0);
    CHECK(addr != NULL);
    CHECK_EQ(from->sin_family, AF_INET);
    CHECK_EQ(ntohs(from->sin_port), t->client_port);
    CHECK_EQ(ntohl(from->sin_addr.s_addr), INADDR_LOOPBACK);
    logf2(lp, "server-got-ping");
    /* The sender's address is valid during this callback: reply to it at once. */
    CHECK_OK(pl_udp_send(lp, socket, &pong, 1, addr, sent, "pong-sent", NULL));
}

static void client_got(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                       const void *addr, int flags) {
    trip *t = data;
    const struct sockaddr_in *from = addr;
    CHECK_EQ(socket, t->client);
    CHECK_EQ(nread, 4);
    CHECK(memcmp(buf, "pong", 4) == 0);
    CHECK_EQ(flags, 0);
    CHECK_EQ(ntohs(from->sin_port), t->server_port);
    logf2(lp, "client-got-pong");
    CHECK_OK(pl_handle_close(lp, t->client, log_cb, "client-closed", NULL));
    CHECK_OK(pl_handle_close(lp, t->server, log_cb, "server-closed", NULL));
}

TEST(a_round_trip_on_loopback_runs_each_callback_in_libuvs_phase) {
    pl_loop *lp = pl_loop_new(NULL);
    trip t;
    struct sockaddr_storage to;
    int len = (int)sizeof to;
    size_t queued = 99;
    static const pl_buf ping[2] = {{(const uint8_t *)"pi", 2}, {(const uint8_t *)"ng", 2}};
    t.server = bound(lp, 4, "127.0.0.1");
    t.server_port = port_of(lp, t.server);
    CHECK(t.server_port != 0);
    t.client = bound(lp, 4, "127.0.0.1");
    t.client_port = port_of(lp, t.client);
    CHECK_OK(pl_udp_recv_start(lp, t.server, server_got, &t, NULL));
    CHECK_OK(pl_udp_recv_start(lp, t.client, client_got, &t, NULL));
    CHECK_EQ(pl_is_active(lp, t.server), 1);
    CHECK_OK(pl_ip_addr("127.0.0.1", t.server_port, &to, &len));
    CHECK_EQ(len, sizeof(struct sockaddr_in));
    /* Two buffers, one datagram; the kernel takes it now, its callback waits for pending. */
    CHECK_OK(pl_udp_send(lp, t.client, ping, 2, &to, sent, "ping-sent", NULL));
    CHECK_OK(pl_udp_send_queue_size(lp, t.client, &queued));
    CHECK_EQ(queued, 0);
    CHECK_EQ(log_len, 0);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("pending:ping-sent:PL_OK poll:server-got-ping pending:pong-sent:PL_OK "
              "poll:client-got-pong client-closed server-closed");
    CHECK_OK(pl_loop_free(lp));
}

static void got_one(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                    const void *addr, int flags) {
    const struct sockaddr_in6 *from = addr;
    (void)data;
    CHECK_EQ(nread, 3);
    CHECK(memcmp(buf, "six", 3) == 0);
    CHECK_EQ(flags, 0);
    CHECK_EQ(from->sin6_family, AF_INET6);
    logf2(lp, "got-six");
    CHECK_OK(pl_handle_close(lp, socket, NULL, NULL, NULL));
}

TEST(ipv6_sockets_round_trip_on_the_loopback_too) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage addr;
    int len = (int)sizeof addr, rc;
    pl_id server, client;
    static const pl_buf six = {(const uint8_t *)"six", 3};
    CHECK_OK(pl_udp_open(lp, 6, &server));
    CHECK_OK(pl_ip_addr("::1", 0, &addr, &len));
    CHECK_EQ(len, sizeof(struct sockaddr_in6));
    rc = pl_udp_bind(lp, server, &addr, PL_UDP_IPV6ONLY);
    if (rc == PL_EADDRNOTAVAIL) {
        printf("# no ::1 here: skipped\n");
        CHECK_OK(pl_loop_free(lp));
        return;
    }
    CHECK_OK(rc);
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons(port_of(lp, server));
    CHECK_OK(pl_udp_recv_start(lp, server, got_one, NULL, NULL));
    /* An unbound socket binds at its first send, as libuv's does. */
    CHECK_OK(pl_udp_open(lp, 6, &client));
    CHECK_OK(pl_udp_send(lp, client, &six, 1, &addr, sent, "six-sent", NULL));
    CHECK(port_of(lp, client) != 0);
    CHECK_OK(pl_run(lp, PL_RUN_ONCE));
    CHECK_OK(pl_handle_close(lp, client, NULL, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("pending:six-sent:PL_OK poll:got-six");
    CHECK_OK(pl_loop_free(lp));
}

/* ----- faults ---------------------------------------------------------------------------- */

static int closed_port(void) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), port;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static void refused(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                    const void *addr, int flags) {
    (void)data;
    CHECK(buf == NULL);
    CHECK(addr == NULL);
    CHECK_EQ(flags, 0);
    logf2(lp, pl_status_name((int)nread));
    CHECK_OK(pl_handle_close(lp, socket, NULL, NULL, NULL));
}

TEST(a_send_to_a_port_nobody_listens_on) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage to;
    int len = (int)sizeof to;
    pl_id loose, connected;
    static const pl_buf x = {(const uint8_t *)"x", 1};
    CHECK_OK(pl_ip_addr("127.0.0.1", (uint16_t)closed_port(), &to, &len));

    /* Unconnected, UDP is fire-and-forget: the send succeeds, nothing comes back. */
    loose = bound(lp, 4, "127.0.0.1");
    CHECK_OK(pl_udp_send(lp, loose, &x, 1, &to, sent, "loose", NULL));
    CHECK_STATUS(pl_udp_send(lp, loose, &x, 1, NULL, sent, "no-address", NULL), PL_EDESTADDRREQ);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("pending:loose:PL_OK");
    CHECK_OK(pl_handle_close(lp, loose, NULL, NULL, NULL));

    /* Connected, the kernel's ICMP answer shows as PL_ECONNREFUSED in the receive callback. */
    log_clear();
    CHECK_OK(pl_udp_open(lp, 4, &connected));
    CHECK_OK(pl_udp_connect(lp, connected, &to));
    CHECK_STATUS(pl_udp_send(lp, connected, &x, 1, &to, sent, "with-address", NULL), PL_EISCONN);
    CHECK_OK(pl_udp_recv_start(lp, connected, refused, NULL, NULL));
    CHECK_OK(pl_udp_send(lp, connected, &x, 1, NULL, sent, "connected", NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("pending:connected:PL_OK poll:PL_ECONNREFUSED");
    CHECK_OK(pl_loop_free(lp));
}

typedef struct big {
    pl_id socket;
    size_t size;
} big;

static void got_big(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                    const void *addr, int flags) {
    big *b = data;
    size_t i;
    (void)addr;
    CHECK_EQ(nread, b->size);
    CHECK_EQ(flags, 0);
    for (i = 0; i < (size_t)nread; i++) CHECK_EQ(buf[i], (uint8_t)(i * 7));
    logf2(lp, "got-largest");
    CHECK_OK(pl_handle_close(lp, socket, NULL, NULL, NULL));
}

TEST(a_datagram_larger_than_the_buffer_is_emsgsize_and_the_largest_arrives_whole) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage to;
    int len = (int)sizeof to;
    pl_id server, client;
    size_t i, huge = 70000;
    uint8_t *bytes = malloc(huge);
    pl_buf buf;
    big b;
    CHECK(bytes != NULL);
    for (i = 0; i < huge; i++) bytes[i] = (uint8_t)(i * 7);
    server = bound(lp, 4, "127.0.0.1");
    client = bound(lp, 4, "127.0.0.1");
    CHECK_OK(pl_ip_addr("127.0.0.1", port_of(lp, server), &to, &len));

    /* 70000 bytes: more than the loop's 64 KiB buffer and more than UDP over IPv4 carries. */
    buf.base = bytes;
    buf.len = huge;
    CHECK_EQ(pl_udp_try_send(lp, client, &buf, 1, &to), PL_EMSGSIZE);
    CHECK_OK(pl_udp_send(lp, client, &buf, 1, &to, sent, "huge", NULL));
    CHECK_OK(pl_run(lp, PL_RUN_NOWAIT));
    CHECK_LOG("pending:huge:PL_EMSGSIZE");

    /* 65507 bytes, the most an IPv4 datagram holds, fits the buffer: delivered whole. */
    log_clear();
    b.socket = server;
    b.size = 65507;
    buf.len = b.size;
    CHECK_OK(pl_udp_recv_start(lp, server, got_big, &b, NULL));
    CHECK_EQ(pl_udp_try_send(lp, client, &buf, 1, &to), (ptrdiff_t)b.size);
    CHECK_OK(pl_handle_close(lp, client, NULL, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("poll:got-largest");
    free(bytes);
    CHECK_OK(pl_loop_free(lp));
}

static void never_got(pl_loop *lp, pl_id socket, void *data, ptrdiff_t nread, const uint8_t *buf,
                      const void *addr, int flags) {
    (void)lp, (void)socket, (void)data, (void)nread, (void)buf, (void)addr, (void)flags;
    CHECK(!"no datagram was sent");
}

static void never_sent(pl_loop *lp, pl_id socket, void *data, int status) {
    (void)lp, (void)socket, (void)data, (void)status;
    CHECK(!"the send was refused");
}

TEST(options_and_bad_input_give_clear_codes_and_take_nothing) {
    pl_loop *lp = pl_loop_new(NULL);
    struct sockaddr_storage addr;
    int len = (int)sizeof addr, join;
    pl_id socket = 0, stale;
    counted c = {0, 0};
    static const pl_buf x = {(const uint8_t *)"x", 1};
    size_t queued;

    CHECK_STATUS(pl_udp_open(NULL, 4, &socket), PL_EINVAL);
    CHECK_STATUS(pl_udp_open(lp, 5, &socket), PL_EINVAL);
    CHECK_STATUS(pl_udp_open(lp, 4, NULL), PL_EINVAL);
    CHECK_EQ(socket, 0);
    CHECK_STATUS(pl_ip_addr("not an address", 1, &addr, &len), PL_EINVAL);
    CHECK_STATUS(pl_ip_addr(NULL, 1, &addr, &len), PL_EINVAL);
    CHECK_STATUS(pl_ip_addr("::1", 1, &addr, NULL), PL_EINVAL);
    len = 4;
    CHECK_STATUS(pl_ip_addr("127.0.0.1", 1, &addr, &len), PL_EINVAL); /* too small */
    len = (int)sizeof addr;
    CHECK_OK(pl_ip_addr("127.0.0.1", 0, &addr, &len));

    CHECK_OK(pl_udp_open(lp, 4, &socket));
    CHECK_STATUS(pl_udp_bind(lp, socket, NULL, 0), PL_EINVAL);
    CHECK_STATUS(pl_udp_bind(lp, socket, &addr, 64), PL_EINVAL);
    CHECK_OK(pl_udp_bind(lp, socket, &addr, PL_UDP_REUSEADDR));
    CHECK_STATUS(pl_udp_bind(lp, socket, &addr, 0), PL_EINVAL); /* bound already */
    {
        /* Another family's address on an IPv4 socket. */
        struct sockaddr_storage six;
        int six_len = (int)sizeof six;
        pl_id other;
        CHECK_OK(pl_ip_addr("::1", 0, &six, &six_len));
        CHECK_OK(pl_udp_open(lp, 4, &other));
        CHECK_STATUS(pl_udp_bind(lp, other, &six, 0), PL_EINVAL);
        /* A family that is neither. */
        ((struct sockaddr *)&six)->sa_family = AF_UNIX;
        CHECK_STATUS(pl_udp_bind(lp, other, &six, 0), PL_EINVAL);
        CHECK_OK(pl_handle_close(lp, other, NULL, NULL, NULL));
    }
    CHECK_STATUS(pl_udp_recv_start(lp, socket, NULL, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_udp_send(lp, socket, NULL, 1, &addr, never_sent, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_udp_send(NULL, socket, &x, 1, &addr, never_sent, &c, count_drop), PL_EINVAL);
    CHECK_STATUS(pl_udp_send_queue_size(lp, socket, NULL), PL_EINVAL);
    CHECK_OK(pl_udp_send_queue_size(lp, socket, &queued));
    CHECK_EQ(queued, 0);

    CHECK_OK(pl_udp_set_broadcast(lp, socket, 1));
    CHECK_OK(pl_udp_set_ttl(lp, socket, 64));
    CHECK_STATUS(pl_udp_set_ttl(lp, socket, 0), PL_EINVAL);
    CHECK_STATUS(pl_udp_set_ttl(lp, socket, 256), PL_EINVAL);
    CHECK_OK(pl_udp_set_multicast_ttl(lp, socket, 0));
    CHECK_STATUS(pl_udp_set_multicast_ttl(lp, socket, 256), PL_EINVAL);
    CHECK_STATUS(pl_udp_set_multicast_ttl(lp, socket, -1), PL_EINVAL);
    CHECK_OK(pl_udp_set_multicast_loop(lp, socket, 0));
    CHECK_STATUS(pl_udp_set_membership(lp, socket, "127.0.0.1", NULL, PL_JOIN_GROUP), PL_EINVAL);
    CHECK_STATUS(pl_udp_set_membership(lp, socket, "239.1.2.3", "nonsense", PL_JOIN_GROUP), PL_EINVAL);
    CHECK_STATUS(pl_udp_set_membership(lp, socket, "239.1.2.3", NULL, 7), PL_EINVAL);
    CHECK_STATUS(pl_udp_set_membership(lp, socket, NULL, NULL, PL_JOIN_GROUP), PL_EINVAL);
    /* Joining may fail where no interface takes multicast; once joined, leaving works once. */
    join = pl_udp_set_membership(lp, socket, "239.1.2.3", "127.0.0.1", PL_JOIN_GROUP);
    if (join == PL_OK) {
        CHECK_OK(pl_udp_set_membership(lp, socket, "239.1.2.3", "127.0.0.1", PL_LEAVE_GROUP));
        CHECK_STATUS(pl_udp_set_membership(lp, socket, "239.1.2.3", "127.0.0.1", PL_LEAVE_GROUP),
                     PL_EADDRNOTAVAIL);
    } else {
        CHECK(join < 0);
        printf("# multicast join: %s\n", pl_status_name(join));
    }

    /* A stale id: the socket closed. */
    stale = socket;
    CHECK_OK(pl_handle_close(lp, socket, NULL, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_STATUS(pl_udp_send(lp, stale, &x, 1, &addr, never_sent, &c, count_drop), PL_ENOENT);
    CHECK_STATUS(pl_udp_recv_start(lp, stale, never_got, &c, count_drop), PL_ENOENT);
    CHECK_STATUS(pl_udp_set_ttl(lp, stale, 9), PL_ENOENT);
    CHECK_EQ(pl_udp_try_send(lp, stale, &x, 1, &addr), PL_ENOENT);
    CHECK_EQ(c.drops, 0); /* refused calls take no ownership */
    CHECK_OK(pl_loop_free(lp));
}

TEST(closing_or_freeing_releases_the_callbacks_data_once) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id a, b;
    counted recv_a = {0, 0}, recv_b = {0, 0}, replaced = {0, 0};
    a = bound(lp, 4, "127.0.0.1");
    b = bound(lp, 4, "127.0.0.1");
    CHECK_OK(pl_udp_recv_start(lp, a, never_got, &replaced, count_drop));
    CHECK_OK(pl_udp_recv_start(lp, a, never_got, &recv_a, count_drop));
    CHECK_EQ(replaced.drops, 1); /* a replaced callback's data goes at once */
    CHECK_OK(pl_udp_recv_start(lp, b, never_got, &recv_b, count_drop));
    CHECK_OK(pl_udp_recv_stop(lp, b));
    CHECK_EQ(pl_is_active(lp, b), 0);
    CHECK_OK(pl_handle_close(lp, a, NULL, NULL, NULL));
    CHECK_EQ(recv_a.drops, 1);
    CHECK_EQ(recv_b.drops, 0);
    CHECK_OK(pl_loop_free(lp)); /* b still open: freed with the loop */
    CHECK_EQ(recv_b.drops, 1);
    CHECK_EQ(recv_a.drops + recv_b.drops + replaced.drops, 3);
    CHECK_EQ(recv_a.runs + recv_b.runs, 0);
}

int main(void) {
    RUN(a_round_trip_on_loopback_runs_each_callback_in_libuvs_phase);
    RUN(ipv6_sockets_round_trip_on_the_loopback_too);
    RUN(a_send_to_a_port_nobody_listens_on);
    RUN(a_datagram_larger_than_the_buffer_is_emsgsize_and_the_largest_arrives_whole);
    RUN(options_and_bad_input_give_clear_codes_and_take_nothing);
    RUN(closing_or_freeing_releases_the_callbacks_data_once);
    return 0;
}
