/* Offloading blocking work to the pool while the loop stays responsive: a C function counts
 * primes on a pool thread, a native job hashes a buffer, and an interval keeps ticking on the
 * loop thread meanwhile. Completions come back on the loop thread, in the poll phase.
 *
 *   cc work_offload.c $(pkg-config --cflags --libs phaseloop) -o work_offload && ./work_offload */
#include <phaseloop.h>

#include <stdio.h>
#include <string.h>

typedef struct primes {
    unsigned limit;
    unsigned count; /* written on the pool thread, read in the completion */
} primes;

/* Runs on a pool thread: it must not touch the loop. */
static void count_primes(void *data) {
    primes *p = data;
    unsigned n, d;
    p->count = 0;
    for (n = 2; n < p->limit; n++) {
        for (d = 2; d * d <= n && n % d != 0; d++) {
        }
        if (d * d > n) p->count++;
    }
}

static pl_id ticker;
static int pending = 2;

static void finished(pl_loop *lp) {
    if (--pending == 0) pl_clear_timer(lp, ticker); /* nothing left: pl_run returns */
}

/* Runs on the loop thread once count_primes returned (or with PL_ECANCELED). */
static void primes_done(pl_loop *lp, void *data, int status) {
    primes *p = data;
    if (status == 0) printf("primes below %u: %u\n", p->limit, p->count);
    finished(lp);
}

static void hash_done(pl_loop *lp, void *data, int status, const uint8_t *digest, size_t len) {
    size_t i;
    (void)data;
    if (status != 0) {
        printf("sha256 failed: %s\n", pl_strerror(status));
    } else {
        printf("sha256(\"phaseloop\") = ");
        for (i = 0; i < len; i++) printf("%02x", digest[i]);
        printf("\n");
    }
    finished(lp);
}

static void tick(pl_loop *lp, void *data) {
    int *ticks = data;
    (void)lp;
    ++*ticks;
}

int main(void) {
    pl_loop *lp = pl_loop_new(NULL);
    primes p = {2000000, 0};
    int ticks = 0;
    const char *text = "phaseloop";
    if (lp == NULL) return 1;
    if (pl_queue_work(lp, count_primes, primes_done, &p, NULL, NULL) != PL_OK) return 1;
    if (pl_job_sha256(lp, (const uint8_t *)text, strlen(text), hash_done, NULL, NULL, NULL) != PL_OK)
        return 1;
    pl_set_interval(lp, 5, tick, &ticks, NULL, &ticker);
    if (pl_run(lp, PL_RUN_DEFAULT) < 0) return 1;
    printf("the loop stayed responsive: the interval ran %s while the pool worked\n",
           ticks > 0 ? "several times" : "(the work was quick)");
    return pl_loop_free(lp) == PL_OK ? 0 : 1;
}
