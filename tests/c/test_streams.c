/* Streams and servers from C: an echo round trip with the phase of every callback, a write
 * the kernel takes whole completing in the pending phase, refused connects, EADDRINUSE,
 * closed fds, writes after shutdown, queued writes cancelled at close, pl_try_write, borrowed
 * buffers freed in their callbacks, and a loop freed with connections in flight. */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static char phase_log[64];

static const char *phase(pl_loop *lp) { return pl_phase_name(pl_current_phase(lp)); }

static void logf2(pl_loop *lp, const char *what) {
    snprintf(phase_log, sizeof phase_log, "%s:%s", phase(lp), what);
    log_push(phase_log);
}

static unsigned short port_of(pl_loop *lp, pl_id handle) {
    struct sockaddr_storage addr;
    int len = (int)sizeof addr;
    CHECK_OK(pl_tcp_getsockname(lp, handle, &addr, &len));
    CHECK_EQ(addr.ss_family, AF_INET);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* ----- an echo server ------------------------------------------------------------------- */

static void echo_read(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    (void)data;
    if (nread > 0) {
        /* The loop's buffer is valid only now: copy before writing it back. */
        uint8_t *copy = malloc((size_t)nread);
        pl_buf out;
        CHECK(copy != NULL);
        memcpy(copy, buf, (size_t)nread);
        out.base = copy;
        out.len = (size_t)nread;
        CHECK_OK(pl_write(lp, stream, &out, 1, NULL, copy, free));
    } else {
        CHECK_EQ(nread, PL_EOF);
        logf2(lp, "server-eof");
        CHECK_OK(pl_handle_close(lp, stream, NULL, NULL, NULL));
    }
}

static void on_connection(pl_loop *lp, pl_id server, void *data, int status, pl_id stream) {
    (void)server;
    (void)data;
    CHECK_OK(status);
    logf2(lp, "connection");
    CHECK_OK(pl_read_start(lp, stream, echo_read, NULL, NULL));
}

/* ----- the client ------------------------------------------------------------------------ */

typedef struct client {
    pl_id server;
    pl_id stream;
    char got[32];
    size_t len;
} client;

static void on_connect(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)stream;
    (void)data;
    CHECK_OK(status);
    logf2(lp, "connect");
}

static void on_written(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)stream;
    CHECK_OK(status);
    logf2(lp, (const char *)data);
}

static void on_close(pl_loop *lp, void *data) { logf2(lp, (const char *)data); }

static void client_read(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    client *c = data;
    static const pl_buf bang = {(const uint8_t *)"!", 1};
    CHECK(nread > 0);
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    memcpy(c->got + c->len, buf, (size_t)nread);
    c->len += (size_t)nread;
    if (c->len == 5) {
        /* Taken whole inside pl_write: its callback waits for the next pending phase. */
        CHECK_OK(pl_write(lp, stream, &bang, 1, on_written, "sync-written", NULL));
    } else if (c->len == 6) {
        CHECK_OK(pl_handle_close(lp, stream, on_close, "client-close", NULL));
        CHECK_OK(pl_handle_close(lp, c->server, NULL, NULL, NULL));
    }
}

TEST(an_echo_round_trip_runs_each_callback_in_libuvs_phase) {
    pl_loop *lp = pl_loop_new(NULL);
    client c;
    static const pl_buf hello = {(const uint8_t *)"hello", 5};
    memset(&c, 0, sizeof c);
    CHECK_OK(pl_tcp_listen(lp, "127.0.0.1", 0, 0, 0, on_connection, NULL, NULL, &c.server));
    CHECK_OK(pl_tcp_connect(lp, "127.0.0.1", port_of(lp, c.server), on_connect, NULL, NULL, &c.stream));
    /* Queued behind the connect: written from the poll phase. */
    CHECK_OK(pl_write(lp, c.stream, &hello, 1, on_written, "written", NULL));
    CHECK_OK(pl_read_start(lp, c.stream, client_read, &c, NULL));
    CHECK_EQ(pl_is_active(lp, c.stream), 1);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(c.len, 6);
    CHECK(memcmp(c.got, "hello!", 6) == 0);
    CHECK_LOG("poll:connection poll:connect poll:written pending:sync-written close:client-close poll:server-eof");
    CHECK_OK(pl_loop_free(lp));
}

/* ----- faults ---------------------------------------------------------------------------- */

static int last_status;

static void record_status(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)data;
    last_status = status;
    logf2(lp, pl_status_name(status));
    if (pl_is_active(lp, stream) >= 0) pl_handle_close(lp, stream, NULL, NULL, NULL);
}

static int closed_port(void) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

TEST(a_refused_connect_is_a_status_in_the_callback_never_from_the_call) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id stream;
    CHECK_OK(pl_tcp_connect(lp, "127.0.0.1", (uint16_t)closed_port(), record_status, NULL, NULL, &stream));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(last_status, PL_ECONNREFUSED);
    CHECK_STR(pl_status_name(PL_ECONNREFUSED), "PL_ECONNREFUSED");
    CHECK_OK(pl_loop_free(lp));
}

TEST(listening_on_a_port_in_use_is_eaddrinuse_at_once_and_takes_nothing) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id a, b = 0;
    counted c = {0, 0};
    CHECK_OK(pl_tcp_listen(lp, "127.0.0.1", 0, 16, 0, on_connection, NULL, NULL, &a));
    CHECK_STATUS(pl_tcp_listen(lp, "127.0.0.1", port_of(lp, a), 16, 0, on_connection, &c, count_drop, &b),
                 PL_EADDRINUSE);
    CHECK_EQ(b, 0);
    CHECK_EQ(c.drops, 0); /* a refused call takes no ownership */
    CHECK_STATUS(pl_tcp_listen(lp, "localhost", 0, 0, 0, on_connection, NULL, NULL, &b), PL_EINVAL);
    CHECK_STATUS(pl_tcp_listen(lp, "127.0.0.1", 0, 0, 99, on_connection, NULL, NULL, &b), PL_EINVAL);
    CHECK_STATUS(pl_tcp_listen(lp, NULL, 0, 0, 0, on_connection, NULL, NULL, &b), PL_EINVAL);
    CHECK_OK(pl_handle_close(lp, a, NULL, NULL, NULL));
    CHECK_OK(pl_loop_free(lp));
}

TEST(opening_a_closed_fd_is_ebadf) {
    pl_loop *lp = pl_loop_new(NULL);
    int fds[2];
    pl_id stream = 0;
    CHECK(pipe(fds) == 0);
    close(fds[0]);
    close(fds[1]);
    CHECK_STATUS(pl_pipe_open(lp, fds[0], &stream), PL_EBADF);
    CHECK_EQ(stream, 0);
    CHECK_OK(pl_loop_free(lp));
}

TEST(a_write_after_shutdown_is_epipe_and_the_peer_reads_its_end) {
    pl_loop *lp = pl_loop_new(NULL);
    int sv[2];
    pl_id stream;
    char buf[16];
    static const pl_buf last = {(const uint8_t *)"last", 4};
    counted c = {0, 0};
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(pl_pipe_open(lp, sv[0], &stream));
    CHECK_OK(pl_write(lp, stream, &last, 1, NULL, NULL, NULL));
    CHECK_OK(pl_shutdown(lp, stream, record_status, NULL, NULL));
    CHECK_STATUS(pl_write(lp, stream, &last, 1, on_written, &c, count_drop), PL_EPIPE);
    CHECK_EQ(c.drops, 0);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_LOG("poll:PL_OK");
    CHECK(read(sv[1], buf, sizeof buf) == 4);
    CHECK(read(sv[1], buf, sizeof buf) == 0); /* the end */
    close(sv[1]);
    CHECK_OK(pl_loop_free(lp));
}

static void cancelled(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)stream;
    free(data); /* the borrowed buffer is the caller's again */
    logf2(lp, pl_status_name(status));
}

TEST(closing_with_writes_queued_cancels_them_in_the_close_phase_before_the_close_callback) {
    pl_loop *lp = pl_loop_new(NULL);
    int sv[2], i;
    pl_id stream;
    size_t queued = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(pl_pipe_open(lp, sv[0], &stream));
    for (i = 0; i < 4; i++) {
        /* 1 MiB each, the peer never reads: most stay queued. */
        pl_buf buf;
        uint8_t *bytes = calloc(1, 1 << 20);
        CHECK(bytes != NULL);
        buf.base = bytes;
        buf.len = 1 << 20;
        CHECK_OK(pl_write(lp, stream, &buf, 1, cancelled, bytes, NULL));
    }
    CHECK_OK(pl_stream_write_queue_size(lp, stream, &queued));
    CHECK(queued > (2u << 20));
    CHECK_OK(pl_set_immediate(lp, log_cb, "immediate", NULL, NULL));
    CHECK_OK(pl_handle_close(lp, stream, on_close, "close", NULL));
    CHECK_EQ(pl_is_active(lp, stream), 0);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    /* The first write may have finished inside its call (then it reports PL_OK first). */
    CHECK(strstr(log_joined(), "immediate") == log_joined());
    CHECK(strstr(log_joined(), "close:PL_ECANCELED close:close") != NULL);
    close(sv[1]);
    CHECK_OK(pl_loop_free(lp));
}

TEST(try_write_writes_what_the_kernel_takes_and_says_eagain_when_queued) {
    pl_loop *lp = pl_loop_new(NULL);
    int sv[2];
    pl_id stream;
    char buf[8];
    static const pl_buf abc[2] = {{(const uint8_t *)"ab", 2}, {(const uint8_t *)"c", 1}};
    uint64_t read_bytes = 1, written = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(pl_pipe_open(lp, sv[0], &stream));
    CHECK_EQ(pl_try_write(lp, stream, abc, 2), 3);
    CHECK(read(sv[1], buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK_OK(pl_stream_bytes(lp, stream, &read_bytes, &written));
    CHECK_EQ(read_bytes, 0);
    CHECK_EQ(written, 3);
    CHECK_EQ(pl_try_write(lp, 0, abc, 2), PL_ENOENT);
    CHECK_EQ(pl_try_write(lp, stream, NULL, 2), PL_EINVAL);
    CHECK_OK(pl_handle_close(lp, stream, NULL, NULL, NULL));
    close(sv[1]);
    CHECK_OK(pl_loop_free(lp));
}

TEST(the_generic_handle_calls_work_on_streams) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id server;
    CHECK_OK(pl_tcp_listen(lp, "127.0.0.1", 0, 0, 0, on_connection, NULL, NULL, &server));
    CHECK_EQ(pl_has_ref(lp, server), 1);
    CHECK_OK(pl_unref(lp, server));
    CHECK_EQ(pl_has_ref(lp, server), 0);
    CHECK_EQ(pl_is_active(lp, server), 1);
    CHECK_EQ(pl_alive(lp), 0);
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT)); /* returns at once: nothing ref'd */
    CHECK_OK(pl_ref(lp, server));
    CHECK_OK(pl_close(lp, server, NULL, NULL, NULL));
    CHECK_STATUS(pl_has_ref(lp, server), PL_ENOENT);
    CHECK_STATUS(pl_close(lp, server, NULL, NULL, NULL), PL_ENOENT);
    CHECK_OK(pl_loop_free(lp));
}

TEST(freeing_the_loop_with_connections_and_writes_in_flight_drops_each_once) {
    pl_loop *lp = pl_loop_new(NULL);
    pl_id server, stream;
    counted listen_data = {0, 0}, connect_data = {0, 0}, read_data = {0, 0}, write_data = {0, 0};
    pl_buf big;
    uint8_t *bytes = calloc(1, 4 << 20);
    CHECK(bytes != NULL);
    big.base = bytes;
    big.len = 4 << 20;
    CHECK_OK(pl_tcp_listen(lp, "127.0.0.1", 0, 0, 0, on_connection, &listen_data, count_drop, &server));
    CHECK_OK(pl_tcp_connect(lp, "127.0.0.1", port_of(lp, server), on_connect, &connect_data, count_drop, &stream));
    CHECK_OK(pl_read_start(lp, stream, client_read, &read_data, count_drop));
    CHECK_OK(pl_write(lp, stream, &big, 1, on_written, &write_data, count_drop));
    CHECK_OK(pl_loop_free(lp));
    CHECK_EQ(listen_data.drops, 1);
    CHECK_EQ(connect_data.drops, 1);
    CHECK_EQ(read_data.drops, 1);
    CHECK_EQ(write_data.drops, 1);
    free(bytes);
}

int main(void) {
    RUN(an_echo_round_trip_runs_each_callback_in_libuvs_phase);
    RUN(a_refused_connect_is_a_status_in_the_callback_never_from_the_call);
    RUN(listening_on_a_port_in_use_is_eaddrinuse_at_once_and_takes_nothing);
    RUN(opening_a_closed_fd_is_ebadf);
    RUN(a_write_after_shutdown_is_epipe_and_the_peer_reads_its_end);
    RUN(closing_with_writes_queued_cancels_them_in_the_close_phase_before_the_close_callback);
    RUN(try_write_writes_what_the_kernel_takes_and_says_eagain_when_queued);
    RUN(the_generic_handle_calls_work_on_streams);
    RUN(freeing_the_loop_with_connections_and_writes_in_flight_drops_each_once);
    return 0;
}
