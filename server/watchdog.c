/* watchdog: drops clients that take too long to send a request.
 *
 * libmicrohttpd's connection timeout only closes a connection that sends nothing for that
 * long: a client that sends its headers one byte a second would hold a connection (and its
 * thread) forever. The watchdog keeps one entry per connection with the time it started to
 * wait for a request (the connection's start, or the end of its previous request); a thread
 * looks at them four times a second and shuts down the socket of any that has not delivered
 * a whole request (headers and body) within the limit. libmicrohttpd's thread for that
 * connection then sees the socket fail and closes it. While a request is being answered its
 * entry is not watched (generation may take long; --timeout-request bounds that).
 *
 * The socket is shut down under the watchdog's mutex and entries are removed under it when
 * libmicrohttpd reports the connection closed (before it closes the socket), so the watchdog
 * never touches a file descriptor that has been closed and reused. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "server.h"

#define WATCH_PERIOD_MS 250

struct watched {
    watched *prev, *next;
    int fd;
    bool receiving;            /* waiting for a request since `since` */
    double since;
};

struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    double limit;              /* seconds */
    watched head;              /* circular list of entries */
    pthread_t thread;
};

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Shuts down the sockets of the entries past the limit (mutex held). */
static void drop_slow(watchdog *w) {
    double now = metrics_now();
    for (watched *c = w->head.next; c != &w->head; c = c->next) {
        if (!c->receiving || now - c->since <= w->limit) continue;
        c->receiving = false;
        shutdown(c->fd, SHUT_RDWR);
        fprintf(stderr, "bitnet-server: dropped a client that sent no whole request within %g s (--timeout-idle)\n",
                w->limit);
    }
}

static void *watch_main(void *arg) {
    watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec until;
        deadline_in(&until, WATCH_PERIOD_MS);
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
        drop_slow(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

watchdog *watchdog_start(double seconds) {
    watchdog *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->limit = seconds;
    w->head.next = w->head.prev = &w->head;
    if (pthread_create(&w->thread, NULL, watch_main, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

void watchdog_stop(watchdog *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

watched *watchdog_add(watchdog *w, int fd) {
    watched *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->receiving = true;
    c->since = metrics_now();
    pthread_mutex_lock(&w->mu);
    c->prev = &w->head;
    c->next = w->head.next;
    w->head.next->prev = c;
    w->head.next = c;
    pthread_mutex_unlock(&w->mu);
    return c;
}

void watchdog_receiving(watchdog *w, watched *c, bool receiving) {
    if (!w || !c) return;
    pthread_mutex_lock(&w->mu);
    c->receiving = receiving;
    c->since = metrics_now();
    pthread_mutex_unlock(&w->mu);
}

void watchdog_remove(watchdog *w, watched *c) {
    if (!w || !c) return;
    pthread_mutex_lock(&w->mu);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    pthread_mutex_unlock(&w->mu);
    free(c);
}
