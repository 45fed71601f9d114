/* Name resolution from C, as pool jobs: "localhost" resolves to a loopback address (127.0.0.1 or
 * ::1), a family filters, a literal is itself, a name that does not resolve is PL_EAI_NONAME (or
 * PL_EAI_AGAIN without a name server) with the resolver's own code, getnameinfo names an
 * address, a cancelled lookup is PL_ECANCELED, bad input is PL_EINVAL, and a loop freed with a
 * lookup in flight releases its data once. */
#include "check.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct answer {
    int calls;
    int status;
    int gai;
    int phase;
    size_t count;
    int families[16];
    char ips[16][48];
} answer;

static void on_addrinfo(pl_loop *lp, void *data, int status, int gai, const pl_addrinfo *addrs,
                        size_t count) {
    answer *a = data;
    size_t i;
    a->calls++;
    a->status = status;
    a->gai = gai;
    a->phase = pl_current_phase(lp);
    a->count = count;
    CHECK(status != 0 || (addrs != NULL && count > 0));
    CHECK(status == 0 || (addrs == NULL && count == 0));
    for (i = 0; i < count && i < 16; i++) {
        char text[48];
        const struct sockaddr *sa = addrs[i].addr;
        a->families[i] = addrs[i].family;
        snprintf(a->ips[i], sizeof a->ips[i], "%s", addrs[i].ip);
        /* The sockaddr says the same as the text. */
        if (addrs[i].family == 4) {
            CHECK_EQ(sa->sa_family, AF_INET);
            CHECK_EQ(addrs[i].addrlen, sizeof(struct sockaddr_in));
            CHECK(inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text));
        } else {
            CHECK_EQ(addrs[i].family, 6);
            CHECK_EQ(sa->sa_family, AF_INET6);
            CHECK_EQ(addrs[i].addrlen, sizeof(struct sockaddr_in6));
            CHECK(inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text));
        }
        CHECK_STR(addrs[i].ip, text);
    }
}

static int has_ip(const answer *a, const char *ip) {
    size_t i;
    for (i = 0; i < a->count && i < 16; i++)
        if (strcmp(a->ips[i], ip) == 0) return 1;
    return 0;
}

static pl_loop *loop_with_pool(unsigned threads) {
    pl_options opts;
    pl_loop *lp;
    CHECK_OK(pl_options_init(&opts));
    opts.threadpool_size = threads;
    lp = pl_loop_new(&opts);
    CHECK(lp != NULL);
    return lp;
}

TEST(localhost_resolves_to_a_loopback_address_in_the_poll_phase) {
    pl_loop *lp = loop_with_pool(2);
    answer any, v4, literal;
    pl_id request = 0;
    size_t i;
    memset(&any, 0, sizeof any);
    memset(&v4, 0, sizeof v4);
    memset(&literal, 0, sizeof literal);
    CHECK_OK(pl_getaddrinfo(lp, "localhost", 0, on_addrinfo, &any, NULL, &request));
    CHECK(request != 0);
    CHECK_OK(pl_getaddrinfo(lp, "localhost", 4, on_addrinfo, &v4, NULL, NULL));
    CHECK_OK(pl_getaddrinfo(lp, "10.1.2.3", 0, on_addrinfo, &literal, NULL, NULL));
    CHECK_EQ(any.calls, 0); /* never inside the call */
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));

    CHECK_EQ(any.calls, 1);
    CHECK_OK(any.status);
    CHECK_EQ(any.gai, 0);
    CHECK_EQ(any.phase, PL_PHASE_POLL);
    CHECK(has_ip(&any, "127.0.0.1") || has_ip(&any, "::1"));

    CHECK_EQ(v4.calls, 1);
    CHECK_OK(v4.status);
    CHECK(has_ip(&v4, "127.0.0.1"));
    for (i = 0; i < v4.count; i++) CHECK_EQ(v4.families[i], 4);

    CHECK_EQ(literal.calls, 1);
    CHECK_EQ(literal.count, 1);
    CHECK_STR(literal.ips[0], "10.1.2.3");
    CHECK_EQ(literal.families[0], 4);
    CHECK_OK(pl_loop_free(lp));
}

TEST(a_name_that_does_not_resolve_is_eai_noname_with_the_resolvers_code) {
    pl_loop *lp = loop_with_pool(1);
    answer a;
    memset(&a, 0, sizeof a);
    CHECK_OK(pl_getaddrinfo(lp, "nonexistent.invalid", 0, on_addrinfo, &a, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.count, 0);
    CHECK_EQ(a.phase, PL_PHASE_POLL);
    /* ".invalid" never resolves (RFC 6761); a sandbox without a name server says "try again". */
    if (a.status == PL_EAI_AGAIN) {
        CHECK_EQ(a.gai, EAI_AGAIN);
        printf("# no name server answered: PL_EAI_AGAIN\n");
    } else {
        CHECK_STATUS(a.status, PL_EAI_NONAME);
        CHECK(a.gai != 0 && a.gai != EAI_AGAIN);
        CHECK(a.gai == EAI_NONAME || a.gai == -5 /* glibc's EAI_NODATA */);
    }
    CHECK(strlen(gai_strerror(a.gai)) > 0);
    CHECK_STR(pl_status_name(a.status), a.status == PL_EAI_AGAIN ? "PL_EAI_AGAIN" : "PL_EAI_NONAME");
    CHECK_OK(pl_loop_free(lp));
}

typedef struct names {
    int calls, status, gai;
    char host[256], service[64];
} names;

static void on_nameinfo(pl_loop *lp, void *data, int status, int gai, const char *host,
                        const char *service) {
    names *n = data;
    CHECK_EQ(pl_current_phase(lp), PL_PHASE_POLL);
    n->calls++;
    n->status = status;
    n->gai = gai;
    if (status == 0) {
        snprintf(n->host, sizeof n->host, "%s", host);
        snprintf(n->service, sizeof n->service, "%s", service);
    } else {
        CHECK(host == NULL && service == NULL);
    }
}

TEST(getnameinfo_names_the_loopback_address_and_its_port) {
    pl_loop *lp = loop_with_pool(1);
    struct sockaddr_storage addr;
    int len = (int)sizeof addr;
    names n;
    memset(&n, 0, sizeof n);
    CHECK_OK(pl_ip_addr("127.0.0.1", 22, &addr, &len));
    CHECK_OK(pl_getnameinfo(lp, &addr, on_nameinfo, &n, NULL, NULL));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(n.calls, 1);
    CHECK_OK(n.status);
    CHECK_EQ(n.gai, 0);
    CHECK_STR(n.host, "localhost");
    CHECK(strcmp(n.service, "ssh") == 0 || strcmp(n.service, "22") == 0);
    CHECK_OK(pl_loop_free(lp));
}

TEST(a_cancelled_lookup_is_ecanceled_and_bad_input_is_einval) {
    pl_loop *lp = loop_with_pool(1);
    answer a;
    names n;
    counted c = {0, 0};
    pl_id sleeper, request = 0;
    struct sockaddr_storage addr;
    memset(&a, 0, sizeof a);
    memset(&n, 0, sizeof n);
    /* The one pool thread is busy, so the lookup waits in the queue and can be cancelled. */
    CHECK_OK(pl_job_sleep(lp, 100, NULL, NULL, NULL, &sleeper));
    CHECK_OK(pl_getaddrinfo(lp, "localhost", 0, on_addrinfo, &a, NULL, &request));
    CHECK_OK(pl_cancel_work(lp, request));
    CHECK_OK(pl_run(lp, PL_RUN_DEFAULT));
    CHECK_EQ(a.calls, 1);
    CHECK_STATUS(a.status, PL_ECANCELED);
    CHECK_EQ(a.gai, 0);

    request = 0;
    CHECK_STATUS(pl_getaddrinfo(NULL, "localhost", 0, on_addrinfo, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getaddrinfo(lp, NULL, 0, on_addrinfo, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getaddrinfo(lp, "localhost", 5, on_addrinfo, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getaddrinfo(lp, "localhost", -1, on_addrinfo, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getaddrinfo(lp, "localhost", 0, NULL, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getnameinfo(lp, NULL, on_nameinfo, &c, count_drop, &request), PL_EINVAL);
    memset(&addr, 0, sizeof addr);
    addr.ss_family = AF_UNIX;
    CHECK_STATUS(pl_getnameinfo(lp, &addr, on_nameinfo, &c, count_drop, &request), PL_EINVAL);
    CHECK_STATUS(pl_getnameinfo(lp, &addr, NULL, &c, count_drop, &request), PL_EINVAL);
    CHECK_EQ(request, 0);
    CHECK_EQ(c.drops, 0); /* refused calls take no ownership */
    CHECK_EQ(n.calls, 0);
    CHECK_OK(pl_loop_free(lp));
}

static void never(pl_loop *lp, void *data, int status, int gai, const pl_addrinfo *addrs, size_t count) {
    (void)lp, (void)data, (void)status, (void)gai, (void)addrs, (void)count;
    CHECK(!"the loop was freed first");
}

TEST(a_loop_freed_with_lookups_in_flight_releases_their_data_once) {
    pl_loop *lp = loop_with_pool(1);
    counted running = {0, 0}, queued = {0, 0};
    /* One lookup on the pool thread, one waiting behind it. */
    CHECK_OK(pl_getaddrinfo(lp, "localhost", 0, never, &running, count_drop, NULL));
    CHECK_OK(pl_getaddrinfo(lp, "127.0.0.1", 0, never, &queued, count_drop, NULL));
    CHECK_OK(pl_loop_free(lp)); /* joins the pool first */
    CHECK_EQ(running.drops, 1);
    CHECK_EQ(queued.drops, 1);
}

int main(void) {
    RUN(localhost_resolves_to_a_loopback_address_in_the_poll_phase);
    RUN(a_name_that_does_not_resolve_is_eai_noname_with_the_resolvers_code);
    RUN(getnameinfo_names_the_loopback_address_and_its_port);
    RUN(a_cancelled_lookup_is_ecanceled_and_bad_input_is_einval);
    RUN(a_loop_freed_with_lookups_in_flight_releases_their_data_once);
    return 0;
}
