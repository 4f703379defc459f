/*
 * loop.c - the libev loop and what runs on it below every other layer:
 * deferred work (mb_defer), the prepare hook, the worker thread, the
 * configuration pointer and the shutting-down flag. Uses only the base
 * layer; the layers above run in the prepare hook through the function
 * pointer given to mb_loop_init (core.c).
 */
#include "loop.h"
#include "mb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct ev_loop *loop;
static const mb_config *cfg;
static bool shutting_down;
static ev_prepare prepare_w;
static void (*prepare_hook)(void);

struct ev_loop *mb_loop(void) { return loop; }
const mb_config *mb_cfg(void) { return cfg; }
bool mb_shutting_down(void) { return shutting_down; }

void mb_loop_begin_shutdown(void) { shutting_down = true; }

/* ------------------------------------------------------------- defer */
typedef struct deferred {
    mb_defer_fn fn;
    void *ud;
} deferred;
static deferred *dq;
static size_t dq_n, dq_cap;

void mb_defer(mb_defer_fn fn, void *ud)
{
    if (dq_n == dq_cap) {
        dq_cap = dq_cap ? dq_cap * 2 : 64;
        dq = mb_realloc(dq, dq_cap * sizeof *dq);
    }
    dq[dq_n++] = (deferred){fn, ud};
    /* make sure the loop does not sleep before running it */
    ev_feed_event(loop, &prepare_w, EV_CUSTOM);
}

void mb_loop_run_deferred(void)
{
    /* Callbacks may defer more work: run until empty (bounded by work). */
    for (int rounds = 0; dq_n && rounds < 64; rounds++) {
        size_t n = dq_n;
        deferred *batch = mb_malloc(n * sizeof *batch);
        memcpy(batch, dq, n * sizeof *batch);
        memmove(dq, dq + n, (dq_n - n) * sizeof *dq);
        dq_n -= n;
        for (size_t i = 0; i < n; i++) batch[i].fn(batch[i].ud);
        free(batch);
    }
}

static void prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
    mb_loop_run_deferred();
    if (prepare_hook) prepare_hook();
}

/* ------------------------------------------------------------ worker */
typedef struct work {
    struct work *next;
    mb_work_fn work, done;
    void *ud;
} work;

static pthread_t worker_thread;
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static work *todo_head, *todo_tail, *done_head;
static bool worker_stop, worker_started;
static ev_async done_w;

static void *worker_main(void *arg)
{
    pthread_mutex_lock(&wmu);
    for (;;) {
        while (!todo_head && !worker_stop) pthread_cond_wait(&wcond, &wmu);
        if (!todo_head && worker_stop) break;
        work *w = todo_head;
        todo_head = w->next;
        if (!todo_head) todo_tail = NULL;
        pthread_mutex_unlock(&wmu);
        w->work(w->ud);
        pthread_mutex_lock(&wmu);
        w->next = done_head;
        done_head = w;
        ev_async_send(loop, &done_w);
    }
    pthread_mutex_unlock(&wmu);
    return NULL;
}

static void done_cb(struct ev_loop *l, ev_async *w, int revents)
{
    pthread_mutex_lock(&wmu);
    work *list = done_head;
    done_head = NULL;
    pthread_mutex_unlock(&wmu);
    /* reverse to completion order */
    work *rev = NULL;
    while (list) {
        work *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        work *n = rev->next;
        rev->done(rev->ud);
        free(rev);
        rev = n;
    }
}

void mb_worker_submit(mb_work_fn fn, mb_work_fn done, void *ud)
{
    work *w = mb_calloc(1, sizeof *w);
    w->work = fn;
    w->done = done;
    w->ud = ud;
    pthread_mutex_lock(&wmu);
    if (todo_tail) todo_tail->next = w;
    else todo_head = w;
    todo_tail = w;
    pthread_cond_signal(&wcond);
    pthread_mutex_unlock(&wmu);
}

static void worker_shutdown(void)
{
    if (!worker_started) return;
    pthread_mutex_lock(&wmu);
    worker_stop = true;
    pthread_cond_signal(&wcond);
    pthread_mutex_unlock(&wmu);
    pthread_join(worker_thread, NULL);
    done_cb(loop, &done_w, 0);
    worker_started = false;
}

/* ------------------------------------------------------------- setup */
void mb_loop_init(const mb_config *c, void (*on_prepare)(void))
{
    cfg = c;
    prepare_hook = on_prepare;
    loop = ev_default_loop(EVFLAG_AUTO);
    /* I/O batching: when the loop is about to wait, libev first lets up to
     * --io-batch-us pass since the previous poll (never past the next timer,
     * so ticks stay on time), then one epoll_wait collects everything that
     * arrived meanwhile. Under load that turns a wake-up per input into one
     * per millisecond (fewer context switches and epoll_wait calls) for at
     * most that much added latency; idle, it changes nothing. */
    ev_set_io_collect_interval(loop, cfg->io_batch_us / 1e6);
    ev_prepare_init(&prepare_w, prepare_cb);
    ev_prepare_start(loop, &prepare_w);
    ev_async_init(&done_w, done_cb);
    ev_async_start(loop, &done_w);
    ev_unref(loop); /* the async watcher alone must not keep the loop alive */
    if (pthread_create(&worker_thread, NULL, worker_main, NULL) == 0) worker_started = true;
}

void mb_loop_worker_stop(void) { worker_shutdown(); }

void mb_loop_destroy(void)
{
    free(dq);
    dq = NULL;
    dq_n = dq_cap = 0;
    ev_prepare_stop(loop, &prepare_w);
    ev_ref(loop);
    ev_async_stop(loop, &done_w);
    ev_loop_destroy(loop);
}
