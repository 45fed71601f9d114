/* Work on the pool: completions on the loop thread in the poll phase, in completion order;
 * cancel semantics (0 before start, PL_EBUSY once started, PL_ENOENT once delivered,
 * PL_ECANCELED to the completion); and the native jobs' results. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static pthread_t loop_thread;

/* ----- a gate that holds the only pool thread ------------------------------------------------ */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_started, gate_open;

static void gate_work(void *data) {
    (void)data;
    pthread_mutex_lock(&gate_lock);
    gate_started = 1;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_wait_started(void) {
    pthread_mutex_lock(&gate_lock);
    while (!gate_started) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void) {
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* ----- completions --------------------------------------------------------------------------- */

static void log_after(pl_loop *lp, void *data, int status) {
    char entry[LOG_ENTRY];
    CHECK(pthread_equal(pthread_self(), loop_thread));
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    snprintf(entry, sizeof entry, "%s:%s", (const char *)data, status == 0 ? "done" : pl_status_name(status));
    log_push(entry);
}

static int worked[4];

static void mark_worked(void *data) {
    const char *name = data;
    worked[name[0] - 'A'] = 1;
}

TEST(cancel_semantics) {
    pl_loop *lp = virtual_loop(); /* one pool thread */
    pl_id a, b, c, d;
    loop_thread = pthread_self();
    memset(worked, 0, sizeof worked);
    CHECK_OK(pl_queue_work(lp, gate_work, log_after, "A", NULL, &a));
    gate_wait_started();
    CHECK_OK(pl_queue_work(lp, mark_worked, log_after, "B", NULL, &b));
    CHECK_OK(pl_queue_work(lp, mark_worked, log_after, "C", NULL, &c));
    CHECK_OK(pl_queue_work(lp, mark_worked, log_after, "D", NULL, &d));
    CHECK_EQ(pl_work_pending(lp, c), 1);
    CHECK_OK(pl_cancel_work(lp, c));        /* not started: cancelled */
    CHECK_OK(pl_cancel_work(lp, c));        /* twice: the first cancel stands */
    CHECK_STATUS(pl_cancel_work(lp, a), PL_EBUSY); /* running */
    CHECK_EQ(pl_work_pending(lp, c), 1);    /* its completion (PL_ECANCELED) is still to come */
    gate_release();
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    /* Cancellations are reported first in the poll phase (as libuv does), then completions in
     * the order the pool finished them. */
    CHECK_LOG("C:PL_ECANCELED A:done B:done D:done");
    CHECK(worked['B' - 'A'] && !worked['C' - 'A'] && worked['D' - 'A']);
    CHECK_STATUS(pl_cancel_work(lp, a), PL_ENOENT); /* delivered */
    CHECK_STATUS(pl_cancel_work(lp, c), PL_ENOENT);
    CHECK_EQ(pl_work_pending(lp, a), 0);
    CHECK_OK(pl_loop_free(lp));
}

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int work_count, after_count;

static void count_work(void *data) {
    (void)data;
    pthread_mutex_lock(&count_lock);
    work_count++;
    pthread_mutex_unlock(&count_lock);
}

static void count_after(pl_loop *lp, void *data, int status) {
    (void)lp, (void)data;
    CHECK_OK(status);
    CHECK(pthread_equal(pthread_self(), loop_thread));
    after_count++;
}

TEST(many_requests_on_four_threads_all_complete_once) {
    pl_options opts;
    pl_loop *lp;
    pl_metrics m;
    int i;
    loop_thread = pthread_self();
    CHECK_OK(pl_options_init(&opts));
    opts.threadpool_size = 4;
    lp = pl_loop_new(&opts);
    CHECK(lp != NULL);
    for (i = 0; i < 200; i++) CHECK_OK(pl_queue_work(lp, count_work, count_after, NULL, NULL, NULL));
    CHECK_EQ(pl_alive(lp), 1); /* pending work keeps the loop alive */
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(work_count, 200);
    CHECK_EQ(after_count, 200);
    CHECK_OK(pl_loop_metrics(lp, &m));
    CHECK(m.events >= 200);
    CHECK_EQ(m.pool_queued, 0);
    CHECK_EQ(m.pool_running, 0);
    CHECK_OK(pl_loop_free(lp));
}

/* ----- native jobs ------------------------------------------------------------------------------ */

typedef struct result {
    int status;
    int calls;
    uint8_t bytes[4096];
    size_t len;
} result;

static void keep_result(pl_loop *lp, void *data, int status, const uint8_t *bytes, size_t len) {
    result *r = data;
    (void)lp;
    r->calls++;
    r->status = status;
    r->len = len;
    CHECK(len <= sizeof r->bytes);
    if (len) memcpy(r->bytes, bytes, len);
    if (status != 0) CHECK(bytes == NULL && len == 0);
}

static void reset(result *r) { memset(r, 0, sizeof *r); }

TEST(native_jobs) {
    static const uint8_t abc_sha256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    /* RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64). */
    static const uint8_t pbkdf2_start[8] = {0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f};
    static result sha, key, packed, unpacked, corrupt, missing, written, readback, slept;
    static uint8_t text[900];
    char path[] = "/tmp/phaseloop-work-XXXXXX";
    pl_loop *lp = virtual_loop();
    uint64_t before;
    size_t i;
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    for (i = 0; i < sizeof text; i++) text[i] = (uint8_t)"phaseloop "[i % 10];

    reset(&sha), reset(&key), reset(&packed), reset(&corrupt), reset(&missing), reset(&written);
    CHECK_OK(pl_job_sha256(lp, (const uint8_t *)"abc", 3, keep_result, &sha, NULL, NULL));
    CHECK_OK(pl_job_pbkdf2(lp, (const uint8_t *)"passwd", 6, (const uint8_t *)"salt", 4, 1, 64,
                           PL_DIGEST_SHA256, keep_result, &key, NULL, NULL));
    CHECK_OK(pl_job_deflate(lp, text, sizeof text, 6, keep_result, &packed, NULL, NULL));
    CHECK_OK(pl_job_inflate(lp, (const uint8_t *)"not zlib", 8, keep_result, &corrupt, NULL, NULL));
    CHECK_OK(pl_job_read_file(lp, "/nonexistent/phaseloop", keep_result, &missing, NULL, NULL));
    CHECK_OK(pl_job_write_file(lp, path, (const uint8_t *)"hello", 5, keep_result, &written, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);

    CHECK(sha.calls == 1 && sha.status == 0 && sha.len == 32);
    CHECK(memcmp(sha.bytes, abc_sha256, 32) == 0);
    CHECK(key.calls == 1 && key.status == 0 && key.len == 64);
    CHECK(memcmp(key.bytes, pbkdf2_start, 8) == 0);
    CHECK(packed.calls == 1 && packed.status == 0 && packed.len > 0 && packed.len < sizeof text);
    CHECK_STATUS(corrupt.status, PL_EINVAL);
    CHECK_STATUS(missing.status, -ENOENT);
    CHECK(written.calls == 1 && written.status == 0 && written.len == 0);

    /* Round trips: the compressed bytes inflate back; the written file reads back. */
    reset(&unpacked), reset(&readback);
    CHECK_OK(pl_job_inflate(lp, packed.bytes, packed.len, keep_result, &unpacked, NULL, NULL));
    CHECK_OK(pl_job_read_file(lp, path, keep_result, &readback, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK(unpacked.status == 0 && unpacked.len == sizeof text);
    CHECK(memcmp(unpacked.bytes, text, sizeof text) == 0);
    CHECK(readback.status == 0 && readback.len == 5 && memcmp(readback.bytes, "hello", 5) == 0);
    unlink(path);
    CHECK_OK(pl_loop_free(lp));

    /* A sleep job really takes its time on the real clock, and the virtual clock stands still
     * while it runs. */
    lp = pl_loop_new(NULL);
    CHECK(lp != NULL);
    reset(&slept);
    before = pl_hrtime(lp);
    CHECK_OK(pl_job_sleep(lp, 20, keep_result, &slept, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK(slept.calls == 1 && slept.status == 0);
    CHECK(pl_hrtime(lp) - before >= 20u * 1000 * 1000);
    CHECK_OK(pl_loop_free(lp));
    lp = virtual_loop();
    reset(&slept);
    CHECK_OK(pl_job_sleep(lp, 20, keep_result, &slept, NULL, NULL));
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(slept.calls, 1);
    CHECK_EQ(pl_now(lp), 0);
    CHECK_OK(pl_loop_free(lp));
}

TEST(a_cancelled_native_job_reports_ecanceled) {
    pl_loop *lp = virtual_loop();
    static result r;
    pl_id id;
    gate_started = gate_open = 0;
    reset(&r);
    CHECK_OK(pl_queue_work(lp, gate_work, NULL, NULL, NULL, NULL));
    gate_wait_started();
    CHECK_OK(pl_job_sha256(lp, (const uint8_t *)"x", 1, keep_result, &r, NULL, &id));
    CHECK_OK(pl_cancel_work(lp, id));
    gate_release();
    CHECK_EQ(pl_run(lp, PL_RUN_DEFAULT), 0);
    CHECK_EQ(r.calls, 1);
    CHECK_STATUS(r.status, PL_ECANCELED);
    CHECK_OK(pl_loop_free(lp));
}

int main(void) {
    RUN(cancel_semantics);
    RUN(many_requests_on_four_threads_all_complete_once);
    RUN(native_jobs);
    RUN(a_cancelled_native_job_reports_ecanceled);
    return 0;
}
