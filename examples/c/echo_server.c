/* A TCP echo server: every byte a client sends comes back. Reads run in the poll phase; each
 * echo is written from a buffer the program owns until the write's callback frees it.
 *
 *   cc echo_server.c $(pkg-config --cflags --libs phaseloop) -o echo_server
 *   ./echo_server 7000      # serve on port 7000 until killed (try: nc 127.0.0.1 7000)
 *   ./echo_server           # serve on a free port, run echo_client's exchange, exit */
#define _POSIX_C_SOURCE 200809L
#include <phaseloop.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int served;
static pl_id server;
static int serve_forever;

static void written(pl_loop *lp, pl_id stream, void *data, int status) {
    (void)lp;
    (void)stream;
    free(data); /* the echoed bytes were lent to the loop until now */
    if (status < 0) fprintf(stderr, "write: %s\n", pl_strerror(status));
}

static void on_read(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    (void)data;
    if (nread > 0) {
        pl_buf out;
        uint8_t *copy = malloc((size_t)nread); /* buf is the loop's, valid only now */
        if (copy == NULL) return;
        memcpy(copy, buf, (size_t)nread);
        out.base = copy;
        out.len = (size_t)nread;
        if (pl_write(lp, stream, &out, 1, written, copy, NULL) < 0) free(copy);
        return;
    }
    /* PL_EOF or an error: this connection is done. */
    printf("[%s] connection closed (%s)\n", pl_phase_name(pl_current_phase(lp)), pl_status_name((int)nread));
    pl_handle_close(lp, stream, NULL, NULL, NULL);
    if (++served == 1 && !serve_forever) pl_handle_close(lp, server, NULL, NULL, NULL);
}

static void on_connection(pl_loop *lp, pl_id srv, void *data, int status, pl_id stream) {
    (void)srv;
    (void)data;
    if (status < 0) {
        fprintf(stderr, "accept: %s\n", pl_strerror(status));
        return;
    }
    printf("[%s] connection\n", pl_phase_name(pl_current_phase(lp)));
    pl_read_start(lp, stream, on_read, NULL, NULL);
}

/* ----- the exchange of echo_client.c, when no port is given --------------------------------- */

static void client_read(pl_loop *lp, pl_id stream, void *data, ptrdiff_t nread, const uint8_t *buf) {
    (void)data;
    if (nread > 0) {
        printf("[%s] client got \"%.*s\"\n", pl_phase_name(pl_current_phase(lp)), (int)nread, (const char *)buf);
        pl_shutdown(lp, stream, NULL, NULL, NULL);
    } else {
        pl_handle_close(lp, stream, NULL, NULL, NULL);
    }
}

static void client_connected(pl_loop *lp, pl_id stream, void *data, int status) {
    static const pl_buf hello = {(const uint8_t *)"hello, echo", 11};
    (void)data;
    if (status < 0) {
        fprintf(stderr, "connect: %s\n", pl_strerror(status));
        return;
    }
    pl_write(lp, stream, &hello, 1, NULL, NULL, NULL);
    pl_read_start(lp, stream, client_read, NULL, NULL);
}

int main(int argc, char **argv) {
    pl_loop *lp = pl_loop_new(NULL);
    int port = argc > 1 ? atoi(argv[1]) : 0, status;
    struct sockaddr_storage addr;
    int len = (int)sizeof addr;
    if (lp == NULL) return 1;
    serve_forever = argc > 1;
    status = pl_tcp_listen(lp, "127.0.0.1", (uint16_t)port, 0, 0, on_connection, NULL, NULL, &server);
    if (status < 0) {
        fprintf(stderr, "listen: %s\n", pl_strerror(status));
        return 1;
    }
    pl_tcp_getsockname(lp, server, &addr, &len);
    port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    if (!serve_forever) pl_tcp_connect(lp, "127.0.0.1", (uint16_t)port, client_connected, NULL, NULL, NULL);
    pl_run(lp, PL_RUN_DEFAULT);
    return pl_loop_free(lp) == PL_OK ? 0 : 1;
}
