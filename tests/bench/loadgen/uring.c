/*
 * uring.c - the WebSocket clients' receive path through io_uring (liburing,
 * Debian's liburing-dev), chosen with --io uring (the default when a ring can
 * be set up; --io epoll keeps the recv() path of ws.c).
 *
 * Why: with epoll every received message cost a wake-up, an epoll_wait and a
 * recv() of its own, and the kernel was most of the load generator's CPU per
 * message (issue 17 target 3). Measured, this path saves about 0.5 us of the
 * 8 per message; the rest is TCP's own work on loopback (docs/PERFORMANCE.md,
 * "The load generator receives through io_uring"). Here each open client has one
 * multishot receive (IORING_RECV_MULTISHOT) that stays armed for the life of
 * the connection; the kernel picks a buffer from one provided-buffer ring
 * (--uring-buffers x BUFSZ, shared by every client) and posts one completion per
 * buffer filled, and the load generator reaps them in batches.
 *
 * One ring for the process, set up with IORING_SETUP_COOP_TASKRUN: when
 * data arrives the kernel queues the receive as task work for the load
 * generator's thread (waking it if it waits in epoll_wait, without an
 * interrupt if it runs) and runs it when that thread next returns from a
 * system call, posting the completions. An ev_check takes them after every
 * wait of the loop, an ev_io on the ring fd in case they come otherwise, and
 * IORING_SETUP_TASKRUN_FLAG says when task work is still waiting (then one
 * io_uring_get_events() runs it). SQEs (arm, cancel) are submitted from an
 * ev_prepare, once per loop iteration that queued any, and at once by a
 * cancel (the socket is closed right after it).
 *
 * Not IORING_SETUP_DEFER_TASKRUN: it runs receives only inside
 * io_uring_enter, at most 20 per call, and its wake-up (an eventfd; the ring
 * fd is not reported readable for deferred work) came about every 10 ms
 * here, which delayed states by 8 ms on average (input-to-state p50 33 ms
 * instead of 25 at match 100x8).
 *
 * Each completion's bytes go to ws.c's lg_ws_rx_data() (the same frame
 * decoder the recv path feeds) and the buffer goes back to the ring at the
 * end of the batch; a receive that ends (no IORING_CQE_F_MORE: out of
 * buffers, EOF, an error, a cancel) goes to lg_ws_rx_ended(), which re-arms
 * or closes the client as the recv path would. The user_data of a receive is
 * ws.c's connection number, so a completion that arrives after its client
 * closed is recognised and dropped (its buffer still returned).
 */
#include "loadgen.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQ_ENTRIES 1024
#define CQ_ENTRIES 16384
#define BUFSZ 2048 /* bytes each: a match.state (~700 bytes) and then some */
#define BGID 7     /* the buffer group */
#define UD_CANCEL UINT64_MAX
#define UD_PROBE (UINT64_MAX - 1)

static unsigned nbufs; /* provided buffers: --uring-buffers, a power of two */
static struct io_uring ring;
static bool on;
static struct io_uring_buf_ring *br;
static uint8_t *bufs;
static unsigned nret; /* buffers given back since the last advance */
static ev_io ring_w;
static ev_prepare prep_w;
static ev_check check_w;
static uint64_t live; /* receives armed and not ended */
static uint64_t n_cqes, n_reaps, n_enters, n_arms, n_enobufs;

bool lg_uring_on(void) { return on; }

static void give_back(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
                          io_uring_buf_ring_mask(nbufs), (int)nret);
    nret++;
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) { /* full: submit what is queued and take one again */
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
        if (!s) lg_die("io_uring: no submission entry free");
    }
    return s;
}

static void prep_recv(int fd, uint64_t ud)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, ud);
}

void lg_uring_arm(uint64_t conn, int fd)
{
    prep_recv(fd, conn);
    live++;
    n_arms++;
}

void lg_uring_cancel(uint64_t conn)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_cancel64(s, conn, 0);
    io_uring_sqe_set_data64(s, UD_CANCEL);
    /* now: the caller closes the socket next, and an arm still queued
     * would otherwise resolve the fd number after it was reused */
    io_uring_submit(&ring);
}

/* Every completion the ring holds, in batches; buffers go back per batch. */
static unsigned reap(void)
{
    unsigned all = 0;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            n++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud == UD_CANCEL) continue;
            int res = cqe->res;
            unsigned flags = cqe->flags;
            if (flags & IORING_CQE_F_BUFFER) {
                unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
                if (res > 0) lg_ws_rx_data(ud, bufs + (size_t)bid * BUFSZ, (size_t)res);
                give_back(bid);
            }
            if (!(flags & IORING_CQE_F_MORE)) {
                live--;
                if (res == -ENOBUFS) n_enobufs++;
                lg_ws_rx_ended(ud, res);
            }
        }
        if (!n) break;
        all += n;
        n_cqes += n;
        io_uring_cq_advance(&ring, n);
        if (nret) {
            io_uring_buf_ring_advance(br, (int)nret);
            nret = 0;
        }
    }
    return all;
}

/* Completions are posted by the kernel's task work, which runs whenever the
 * load generator returns from a system call (epoll_wait, a send); when the
 * kernel says some is still waiting (IORING_SQ_TASKRUN), one
 * io_uring_get_events() runs it. */
static void drain(void)
{
    if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) {
        n_enters++;
        io_uring_get_events(&ring);
    }
    if (io_uring_cq_ready(&ring)) {
        n_reaps++;
        reap();
    }
}

/* The ring fd is readable: completions are waiting. */
static void ring_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    drain();
}

/* After every wait of the loop: the wait's return ran the receives, so
 * their completions are taken now rather than after one more epoll_wait
 * reports the ring fd. */
static void check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    drain();
}

static void prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (io_uring_sq_ready(&ring)) io_uring_submit(&ring);
}

static void fail(char *why, size_t whylen, const char *what, int err)
{
    snprintf(why, whylen, "%s: %s", what, strerror(err < 0 ? -err : err));
}

/* One multishot receive on a socket pair: proves the kernel takes the
 * request and the buffer ring (a kernel before 6.0 refuses it at the first
 * completion, not at setup). */
static bool probe(char *why, size_t whylen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        fail(why, whylen, "socketpair", errno);
        return false;
    }
    bool ok = false;
    prep_recv(sv[0], UD_PROBE);
    struct __kernel_timespec ts = {.tv_sec = 2};
    struct io_uring_cqe *cqe = NULL;
    if (write(sv[1], "x", 1) != 1) fail(why, whylen, "probe write", errno);
    else {
        int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        if (r < 0) fail(why, whylen, "multishot receive probe", r);
        else if (cqe->res < 0) fail(why, whylen, "multishot receive", cqe->res);
        else if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_BUFFER) || !(cqe->flags & IORING_CQE_F_MORE))
            snprintf(why, whylen, "multishot receive probe: unexpected completion");
        else ok = true;
    }
    /* end the probe's receive (EOF) and take every completion it left */
    close(sv[1]);
    for (int i = 0; i < 4; i++) {
        if (cqe) {
            bool last = !(cqe->flags & IORING_CQE_F_MORE);
            if (cqe->flags & IORING_CQE_F_BUFFER) give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            io_uring_cqe_seen(&ring, cqe);
            if (last) break;
        }
        cqe = NULL;
        if (io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL) < 0) break;
    }
    if (nret) {
        io_uring_buf_ring_advance(br, (int)nret);
        nret = 0;
    }
    close(sv[0]);
    return ok;
}

bool lg_uring_init(char *why, size_t whylen)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = CQ_ENTRIES;
    nbufs = (unsigned)lg_opt.uring_buffers;
    int r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (r < 0) {
        fail(why, whylen, "io_uring_queue_init", r);
        return false;
    }
    size_t rsz = nbufs * sizeof(struct io_uring_buf);
    br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = mmap(NULL, (size_t)nbufs * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED || bufs == MAP_FAILED) {
        fail(why, whylen, "mmap", errno);
        goto undo;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = nbufs;
    reg.bgid = BGID;
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) {
        fail(why, whylen, "io_uring_register_buf_ring", r);
        goto undo;
    }
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < nbufs; i++) give_back(i);
    io_uring_buf_ring_advance(br, (int)nret);
    nret = 0;
    if (!probe(why, whylen)) goto undo;
    ev_io_init(&ring_w, ring_cb, ring.ring_fd, EV_READ);
    ev_io_start(lg_loop, &ring_w);
    ev_prepare_init(&prep_w, prep_cb);
    ev_prepare_start(lg_loop, &prep_w);
    ev_check_init(&check_w, check_cb);
    ev_check_start(lg_loop, &check_w);
    on = true;
    return true;
undo:
    io_uring_queue_exit(&ring);
    if (br != MAP_FAILED) munmap(br, rsz);
    if (bufs != MAP_FAILED) munmap(bufs, (size_t)nbufs * BUFSZ);
    br = NULL;
    bufs = NULL;
    return false;
}

const char *lg_uring_describe(void)
{
    static char d[96];
    snprintf(d, sizeof d, "multishot recv, %u provided buffers of %d bytes", nbufs, BUFSZ);
    return d;
}

void lg_uring_drain(double seconds)
{
    if (!on) return;
    double until = lg_now() + seconds;
    io_uring_submit(&ring);
    while (live && lg_now() < until) {
        struct __kernel_timespec ts = {.tv_nsec = 50 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        reap();
    }
}

void lg_uring_stats(json_t *out)
{
    if (!on) return;
    json_object_set_new(out, "uring_completions", json_integer((json_int_t)n_cqes));
    json_object_set_new(out, "uring_batches", json_integer((json_int_t)n_reaps));
    json_object_set_new(out, "uring_get_events", json_integer((json_int_t)n_enters));
    json_object_set_new(out, "uring_arms", json_integer((json_int_t)n_arms));
    json_object_set_new(out, "uring_out_of_buffers", json_integer((json_int_t)n_enobufs));
}

void lg_uring_destroy(void)
{
    if (!on) return;
    ev_io_stop(lg_loop, &ring_w);
    ev_prepare_stop(lg_loop, &prep_w);
    ev_check_stop(lg_loop, &check_w);
    io_uring_queue_exit(&ring);
    munmap(br, nbufs * sizeof(struct io_uring_buf));
    munmap(bufs, (size_t)nbufs * BUFSZ);
    on = false;
}
