/* A TCP client: connects, sends a line, prints what comes back, half-closes, and closes when
 * the server closes its side. The connect and the reads complete in the poll phase; the first
 * write, taken whole by the kernel inside pl_write, completes in the pending phase.
 *
 *   cc echo_client.c $(pkg-config --cflags --libs phaseloop) -o echo_client
 *   ./echo_client 7000 [HOST]    # against ./echo_server 7000
 *   ./echo_client                # against a server of its own, on the same loop */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *phase(pl_loop *lp) { return pl_phase_name(pl_current_phase(lp)); }

static void on_read(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    (void)data;
    if (nread > 0) {
        printf("[%s] got \"%.*s\"\n", phase(lp), (int)nread, (const char *)buf);
        pl_shutdown(lp, stream, NULL, NULL, NULL); /* no more to send */
        return;
    }
    printf("[%s] server closed (%s)\n", phase(lp), pl_status_name((int)nread));
    pl_handle_close(lp, stream, NULL, NULL, NULL);
}

static void on_written(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)stream;
    (void)data;
    printf("[%s] sent (%s)\n", phase(lp), pl_status_name(status));
}

static void on_connect(pl_loop *lp, pl_id stream, void *data, int status) {
    static const pl_buf line = {(const uint8_t *)"ping", 4};
    (void)data;
    if (status < 0) {
        printf("[%s] connect failed: %s\n", phase(lp), pl_strerror(status));
        pl_handle_close(lp, stream, NULL, NULL, NULL);
        return;
    }
    printf("[%s] connected\n", phase(lp));
    pl_write(lp, stream, &line, 1, on_written, NULL, NULL);
    pl_read_start(lp, stream, on_read, NULL, NULL);
}

/* ----- the server of its own, when no port is given: echoes once, then closes ------------- */

static pl_id own_server;

static void echo_once(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    (void)data;
    if (nread > 0) {
        uint8_t *copy = malloc((size_t)nread);
        pl_buf out;
        if (copy == NULL) return;
        memcpy(copy, buf, (size_t)nread);
        out.base = copy;
        out.len = (size_t)nread;
        pl_write(lp, stream, &out, 1, NULL, copy, free); /* freed once written */
        return;
    }
    pl_handle_close(lp, stream, NULL, NULL, NULL);
    pl_handle_close(lp, own_server, NULL, NULL, NULL);
}

static void accepted(pl_loop *lp, pl_id srv, void *data, int status, pl_id stream) {
    (void)srv;
    (void)data;
    if (status == 0) pl_read_start(lp, stream, echo_once, NULL, NULL);
}

int main(int argc, char **argv) {
    pl_loop *lp = pl_loop_new(NULL);
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    int port = argc > 1 ? atoi(argv[1]) : 0, status;
    if (lp == NULL) return 1;
    if (argc <= 1) {
        struct sockaddr_storage addr;
        int len = (int)sizeof addr;
        pl_tcp_listen(lp, "127.0.0.1", 0, 0, 0, accepted, NULL, NULL, &own_server);
        pl_tcp_getsockname(lp, own_server, &addr, &len);
        port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
    status = pl_tcp_connect(lp, host, (uint16_t)port, on_connect, NULL, NULL, NULL);
    if (status < 0) {
        fprintf(stderr, "connect: %s\n", pl_strerror(status));
        return 1;
    }
    pl_run(lp, PL_RUN_DEFAULT);
    return pl_loop_free(lp) == PL_OK ? 0 : 1;
}
