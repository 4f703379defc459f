/*
 * http.c - keep-alive HTTP/1.1 client on the libev loop (lg_http_*), and
 * account creation over REST (lg_accounts_*).
 *
 * Why not libwebsockets' HTTP client: in lws 4.1 a client connection does
 * one transaction; reusing the socket needs LCCSCF_PIPELINE, which queues a
 * new client wsi (one allocation and a connect_via_info per request) behind
 * *any* live connection to the same host:port, so C independent keep-alive
 * connections cannot be kept apart. The rpc scenario needs C connections
 * with one request each in flight and a client cost well under the server's
 * (both share two cores). HTTP/1.1 request/response with Content-Length is
 * all the server speaks, so this file writes the request line and reads
 * "status + Content-Length + body". (WebSockets: ws.c and wsframe.c.)
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct lg_http {
    struct sockaddr_in addr;
    int fd;
    ev_io io;
    bool connecting, busy, want_write, close_each;
    int retries;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    lg_http_done_fn fn;
    void *ud;
};

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

lg_http *lg_http_new(const char *host, int port)
{
    lg_http *c = lg_calloc(1, sizeof *c);
    c->fd = -1;
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &c->addr.sin_addr) != 1) lg_die("bad --host %s (an IPv4 address)", host);
    ev_init(&c->io, io_cb);
    c->io.data = c;
    return c;
}

static void conn_close(lg_http *c)
{
    if (c->fd < 0) return;
    ev_io_stop(lg_loop, &c->io);
    close(c->fd);
    c->fd = -1;
    c->connecting = false;
    c->want_write = false;
}

void lg_http_set_close(lg_http *c, bool close_each) { c->close_each = close_each; }

void lg_http_free(lg_http *c)
{
    if (!c) return;
    conn_close(c);
    free(c->out);
    free(c->in);
    free(c);
}

static void watch(lg_http *c, bool want_write)
{
    if (c->fd < 0) return;
    if (ev_is_active(&c->io) && c->want_write == want_write) return;
    ev_io_stop(lg_loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ | (want_write ? EV_WRITE : 0));
    ev_io_start(lg_loop, &c->io);
    c->want_write = want_write;
}

static void fail(lg_http *c)
{
    conn_close(c);
    if (!c->busy) return;
    c->busy = false;
    c->fn(c, -1, "", 0, c->ud);
}

static int conn_open(lg_http *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&c->addr, sizeof c->addr) < 0 && errno != EINPROGRESS) {
        conn_close(c);
        return -1;
    }
    c->connecting = true;
    c->want_write = false;
    watch(c, true);
    return 0;
}

static void flush(lg_http *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, true);
                return;
            }
            fail(c);
            return;
        }
        c->out_off += (size_t)w;
    }
    watch(c, false);
}

/* Send the queued request on a (re)opened or kept-alive socket. */
static void start(lg_http *c)
{
    c->in_len = 0;
    c->out_off = 0;
    if (c->fd < 0) {
        if (conn_open(c) < 0) fail(c);
        return; /* flushed when the connect completes */
    }
    flush(c);
}

int lg_http_request(lg_http *c, const char *method, const char *path, const char *bearer, const char *body,
                    lg_http_done_fn fn, void *ud)
{
    if (c->busy) return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t need = 256 + strlen(path) + (bearer ? strlen(bearer) : 0) + blen;
    if (need > c->out_cap) {
        c->out_cap = need;
        free(c->out);
        c->out = malloc(need);
        if (!c->out) lg_die("out of memory");
    }
    int n = snprintf(c->out, c->out_cap,
                     "%s %s HTTP/1.1\r\nHost: loadgen\r\n%s%s%s%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, bearer ? "Authorization: Bearer " : "", bearer ? bearer : "",
                     bearer ? "\r\n" : "", c->close_each ? "Connection: close\r\n" : "", blen);
    memcpy(c->out + n, body ? body : "", blen);
    c->out_len = (size_t)n + blen;
    c->busy = true;
    c->retries = 0;
    c->fn = fn;
    c->ud = ud;
    start(c);
    return 0;
}

/* A complete response in c->in? Returns 1 and fills the outputs when so. */
static int parse(lg_http *c, int *status, size_t *body_off, size_t *body_len, bool *close_after)
{
    c->in[c->in_len] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end) return 0;
    size_t hdr = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    long clen = 0;
    *end = '\0'; /* search headers only */
    const char *cl = strcasestr(c->in, "\r\ncontent-length:");
    if (cl) clen = strtol(cl + 17, NULL, 10);
    else if (strcasestr(c->in, "\r\ntransfer-encoding:")) return -1; /* not spoken by the server */
    *close_after = strcasestr(c->in, "\r\nconnection: close") != NULL;
    *end = '\r';
    if (c->in_len < hdr + (size_t)clen) return 0;
    *body_off = hdr;
    *body_len = (size_t)clen;
    return 1;
}

static void on_readable(lg_http *c)
{
    bool eof = false;
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = realloc(c->in, c->in_cap + 1);
            if (!c->in) lg_die("out of memory");
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        eof = true; /* or an error: same handling */
        break;
    }
    if (!c->busy) { /* unsolicited bytes, or the server closed an idle connection */
        c->in_len = 0;
        if (eof) conn_close(c);
        return;
    }
    int status = 0;
    size_t off = 0, len = 0;
    bool close_after = false;
    int rc = c->in_len ? parse(c, &status, &off, &len, &close_after) : 0;
    if (rc == 0 && eof) {
        /* An idle keep-alive connection the server closed just as we sent:
         * reopen once for this request. */
        bool fresh = c->in_len == 0 && c->retries == 0;
        conn_close(c);
        if (fresh) {
            c->retries++;
            start(c);
        } else {
            fail(c);
        }
        return;
    }
    if (rc == 0) return;
    if (rc < 0) {
        fail(c);
        return;
    }
    if (close_after || c->close_each || eof) conn_close(c);
    c->busy = false;
    c->in[off + len] = '\0'; /* in_cap keeps a spare byte */
    c->fn(c, status, c->in + off, len, c->ud);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    lg_http *c = w->data;
    if (c->connecting && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        c->connecting = false;
        if (err) {
            errno = err;
            fail(c);
            return;
        }
        flush(c);
        return;
    }
    if (revents & EV_READ) {
        on_readable(c);
        if (c->fd < 0 || c->connecting) return;
    }
    if ((revents & EV_WRITE) && c->fd >= 0 && c->out_off < c->out_len) flush(c);
}

/* ------------------------------------------------------------ blocking */

typedef struct call_res {
    int status;
    char *body;
    bool done;
} call_res;

static void call_done(lg_http *c, int status, const char *body, size_t len, void *ud)
{
    call_res *r = ud;
    r->status = status;
    r->body = strndup(body, len);
    r->done = true;
    lg_phase_done();
}

int lg_http_call(const char *method, const char *path, const char *bearer, const char *body, char **resp)
{
    static lg_http *c;
    if (!c) {
        c = lg_http_new(lg_opt.host, lg_opt.port);
        lg_http_set_close(c, true); /* see lg_http_set_close */
    }
    call_res r = {0};
    lg_http_request(c, method, path, bearer, body, call_done, &r);
    lg_phase_run(30);
    if (!r.done) {
        conn_close(c);
        c->busy = false;
        if (resp) *resp = NULL;
        return -2;
    }
    if (resp) *resp = r.body;
    else free(r.body);
    return r.status;
}

/* ------------------------------------------------------------ accounts */

#define ACCT_CONNS 16

typedef struct acct_job acct_job;
typedef struct acct_slot {
    acct_job *j;
    lg_http *c;
    int idx;
} acct_slot;

struct acct_job {
    lg_account *a;
    int n, next, done, failed;
    acct_slot slots[ACCT_CONNS];
};

static void acct_send(acct_slot *s);

static void acct_done(lg_http *c, int status, const char *body, size_t len, void *ud)
{
    acct_slot *s = ud;
    acct_job *j = s->j;
    json_t *r = status == 200 || status == 201 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(r, "token"));
    const char *pid = json_string_value(json_object_get(r, "player_id"));
    if (!tok || !pid) {
        lg_say("POST /v1/auth/device for %s-%d: status %d: %.200s", lg_opt.prefix, s->idx, status, body);
        j->failed++;
    } else {
        j->a[s->idx].token = strdup(tok);
        snprintf(j->a[s->idx].player_id, sizeof j->a[s->idx].player_id, "%s", pid);
    }
    json_decref(r);
    j->done++;
    if (j->failed || j->done == j->n) {
        lg_phase_done();
        return;
    }
    acct_send(s);
}

static void acct_send(acct_slot *s)
{
    acct_job *j = s->j;
    if (j->next >= j->n) return;
    s->idx = j->next++;
    char body[160];
    snprintf(body, sizeof body, "{\"device_id\":\"loadgen-%s-%06d\"}", lg_opt.prefix, s->idx);
    lg_http_request(s->c, "POST", "/v1/auth/device", NULL, body, acct_done, s);
}

lg_account *lg_accounts_create(int n)
{
    acct_job j = {0};
    j.a = lg_calloc((size_t)n, sizeof *j.a);
    j.n = n;
    double t0 = lg_now();
    for (int k = 0; k < ACCT_CONNS; k++) {
        j.slots[k].j = &j;
        j.slots[k].c = lg_http_new(lg_opt.host, lg_opt.port);
        lg_http_set_close(j.slots[k].c, true); /* see lg_http_set_close */
        acct_send(&j.slots[k]);
    }
    bool ok = lg_phase_run(120);
    for (int k = 0; k < ACCT_CONNS; k++) lg_http_free(j.slots[k].c);
    if (!ok || j.failed) lg_die("account setup failed (%d of %d done, %d failed)", j.done, n, j.failed);
    double dt = lg_now() - t0;
    lg_say("%d accounts ready in %.1f s (%.0f/s)", n, dt, n / (dt > 0 ? dt : 1));
    return j.a;
}

void lg_accounts_free(lg_account *a, int n)
{
    if (!a) return;
    for (int i = 0; i < n; i++) free(a[i].token);
    free(a);
}
