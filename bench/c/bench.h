/*
 * What the two C bench programs (pl_bench.c for phaseloop, uv_bench.c for libuv) share: the
 * clocks, the command line and the output format that bench/report.py reads.
 *
 * Each program runs one workload once and prints one line per figure:
 *     <metric> <nanoseconds per operation>
 * so that report.py can interleave runs of both libraries and take medians. A program that
 * finds a wrong count (a callback lost or run twice) prints to stderr and exits 1: a figure
 * is only printed for a workload that really did all its work.
 */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall time in ns (monotonic). */
static inline uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread in ns: what running a loop costs, without its sleeps in
 * poll (a timer workload spends most of its wall time waiting for timers to become due). */
static inline uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One figure: `total_ns` spent on `ops` operations, printed as ns per operation. */
static inline void report(const char *metric, uint64_t total_ns, uint64_t ops) {
    printf("%s %.3f\n", metric, (double)total_ns / (double)ops);
}

/* Exits with a message when a workload did not do exactly its work. */
static inline void expect_count(const char *what, uint64_t got, uint64_t want) {
    if (got != want) {
        fprintf(stderr, "%s: %llu callbacks ran, expected %llu\n", what,
                (unsigned long long)got, (unsigned long long)want);
        exit(1);
    }
}

/* Exits with a message when a call failed. */
static inline void expect_ok(const char *what, int status) {
    if (status < 0) {
        fprintf(stderr, "%s failed: %d\n", what, status);
        exit(1);
    }
}

/* The workloads both programs implement, by name, with their operation count `n` and, for
 * the pool and thread workloads, `threads` (pool size or sending threads). */
typedef void (*workload_fn)(uint64_t n, unsigned threads);

typedef struct {
    const char *name;
    workload_fn run;
} workload;

/* `prog WORKLOAD N [THREADS]`: runs the named workload once. */
static inline int bench_main(int argc, char **argv, const workload *table, size_t count) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s WORKLOAD N [THREADS]\nworkloads:", argv[0]);
        for (size_t i = 0; i < count; i++) fprintf(stderr, " %s", table[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
    if (n == 0 || threads == 0) {
        fprintf(stderr, "N and THREADS must be positive\n");
        return 2;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].name, argv[1]) == 0) {
            table[i].run(n, threads);
            return 0;
        }
    }
    fprintf(stderr, "unknown workload %s\n", argv[1]);
    return 2;
}

#endif
