/*
 * bench_send.c - what the kernel alone charges a server for one small
 * message on a loopback TCP socket, with a reader that behaves like the load
 * generator (one process, epoll, sleeping when idle). No libwebsockets, no
 * Lua, no JSON: the floor under `server CPU per 100k states`.
 *
 *   bench_send [--sockets 800] [--groups 100] [--hz 20] [--bytes 600] [--seconds 5]
 *
 * The writer owns `sockets` accepted connections split into `groups` (a
 * group is one match: sockets/groups players). Every 1/hz seconds each
 * group writes one `bytes`-long message to each of its sockets, the groups
 * spread over the period as the server spreads its matches' ticks. A forked
 * reader epoll-waits on the other ends and reads everything. At the end the
 * writer's user and system CPU (getrusage) per message are printed, plus the
 * reader's (wait4: its whole life, setup included), the floor of a load
 * generator's CPU per received message on this machine. Bounded: at most
 * 60 seconds and 10,000 sockets; loopback only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void reader(int *fds, int n)
{
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
    }
    static char buf[65536];
    int open = n;
    struct epoll_event evs[256];
    while (open > 0) {
        int k = epoll_wait(ep, evs, 256, 2000);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        for (int i = 0; i < k; i++) {
            ssize_t r = recv(evs[i].data.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd, NULL);
                close(evs[i].data.fd);
                open--;
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("reader: user %.3f s, system %.3f s\n", tv_s(ru.ru_utime), tv_s(ru.ru_stime));
    exit(0);
}

int main(int argc, char **argv)
{
    int sockets = 800, groups = 100, hz = 20, bytes = 600;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sockets")) sockets = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--groups")) groups = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hz")) hz = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bytes")) bytes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr,
                    "usage: bench_send [--sockets N] [--groups G] [--hz H] [--bytes B] [--seconds S]\n");
            return 2;
        }
    }
    if (sockets < 1 || sockets > 10000 || groups < 1 || groups > sockets || hz < 1 || hz > 1000 ||
        bytes < 1 || bytes > 65536 || seconds <= 0 || seconds > 60) {
        fprintf(
            stderr,
            "bench_send: out of bounds (sockets 1..10000, groups 1..sockets, hz 1..1000, bytes 1..65536, seconds <= 60)\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0)
        die("listen");
    int *cl = calloc((size_t)sockets, sizeof *cl), *sv = calloc((size_t)sockets, sizeof *sv);
    if (!cl || !sv) die("calloc");
    for (int i = 0; i < sockets; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (cl[i] < 0 || connect(cl[i], (struct sockaddr *)&a, sizeof a) < 0) die("connect");
        sv[i] = accept(ls, NULL, NULL);
        if (sv[i] < 0) die("accept");
        int one = 1;
        setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as libwebsockets does */
    }
    close(ls);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (int i = 0; i < sockets; i++) close(sv[i]);
        reader(cl, sockets);
    }
    for (int i = 0; i < sockets; i++) close(cl[i]);

    char *msg = malloc((size_t)bytes);
    if (!msg) die("malloc");
    memset(msg, 'x', (size_t)bytes);
    double period = 1.0 / hz, t0 = now_s(), end = t0 + seconds;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long sent = 0;
    int per = sockets / groups;
    for (long tick = 0;; tick++) {
        for (int g = 0; g < groups; g++) {
            double due = t0 + (double)tick * period + period * g / groups;
            if (due >= end) goto done;
            double wait = due - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
            int from = g * per, to = g == groups - 1 ? sockets : from + per;
            for (int i = from; i < to; i++) {
                if (send(sv[i], msg, (size_t)bytes, MSG_NOSIGNAL) == bytes) sent++;
            }
        }
    }
done:
    getrusage(RUSAGE_SELF, &r1);
    double us = tv_s(r1.ru_utime) - tv_s(r0.ru_utime), sy = tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
    for (int i = 0; i < sockets; i++) close(sv[i]);
    int st;
    struct rusage rr; /* the reader's CPU: what receiving alone costs a load generator */
    if (wait4(pid, &st, 0, &rr) < 0) memset(&rr, 0, sizeof rr);
    double rd = tv_s(rr.ru_utime) + tv_s(rr.ru_stime);
    printf("bench_send: %d sockets in %d groups at %d Hz, %d-byte messages, %.1f s: %ld sends (%.0f/s)\n",
           sockets, groups, hz, bytes, seconds, sent, (double)sent / seconds);
    printf("writer CPU per send: %.2f us (user %.2f, system %.2f) = %.3f s per 100,000\n",
           (us + sy) / (double)sent * 1e6, us / (double)sent * 1e6, sy / (double)sent * 1e6,
           (us + sy) / (double)sent * 1e5);
    printf("reader CPU per message: %.2f us\n", rd / (double)sent * 1e6);
    /* one line for tools/bench.sh's table */
    printf("{\"bench\":\"send\",\"config\":\"%d sockets %d phases\",\"median_ns\":%.0f,\"reader_ns\":%.0f}\n",
           sockets, groups, (us + sy) / (double)sent * 1e9, rd / (double)sent * 1e9);
    free(msg);
    free(cl);
    free(sv);
    return 0;
}
