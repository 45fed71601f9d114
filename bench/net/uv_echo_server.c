/* The echo benchmark's libuv server, the anchor of examples/c/echo_server.c: the same work
 * (read into libuv's buffer, copy, uv_write, free in the write callback). Prints `port N`. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab; /* one loop-owned buffer, as phaseloop's */
    buf->len = sizeof slab;
}

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    (void)status;
    free(w->buf.base);
    free(w);
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        write_req *w = malloc(sizeof *w);
        w->buf = uv_buf_init(malloc((size_t)nread), (unsigned)nread);
        memcpy(w->buf.base, buf->base, (size_t)nread);
        uv_write(&w->req, s, &w->buf, 1, on_written);
    } else if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    uv_tcp_t *client;
    if (status < 0) return;
    client = malloc(sizeof *client);
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

int main(void) {
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    struct sockaddr_storage name;
    int len = sizeof name;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (uv_listen((uv_stream_t *)&server, 1024, on_connection) != 0) return 1;
    uv_tcp_getsockname(&server, (struct sockaddr *)&name, &len);
    printf("port %d\n", ntohs(((struct sockaddr_in *)&name)->sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
