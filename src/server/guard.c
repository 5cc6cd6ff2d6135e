/* guard.c — the server's guard thread: slow clients, and changes of the keys file.
 *
 * libmicrohttpd closes a connection idle for --timeout, but a client that trickles a byte now
 * and then is never idle, and would keep its connection (and its worker's attention) for as
 * long as it likes. So every connection has a deadline (srv_sock, libmicrohttpd's socket
 * context), kept by the callbacks of server.c:
 *
 *   connection accepted      now + idle timeout + request timeout (the first request line)
 *   request line received    now + request timeout: the rest of the request must be in, and
 *                            the reply sent, by then
 *   push suspended           none (the wait for the commit is not the client's doing)
 *   push answered            now + request timeout
 *   request completed        now + idle timeout + request timeout (the next request line)
 *
 * Four times a second the guard shuts down (shutdown(2), both ways) the socket of every
 * connection past its deadline; the connection's worker then sees the end of the stream and
 * closes it as if the client had hung up. The socket stays open until then (libmicrohttpd
 * notifies the connection's end, which unlinks its srv_sock under socks_lock, before it closes
 * the socket), so the guard never touches a descriptor that has been reused.
 *
 * Once a second it also compares the keys file's size, times and inode with the ones loaded,
 * and reloads it when they changed (auth.c).
 */
#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "server/server.h"

#define TICK_MS 250

/* Deadlines are seconds apart and checked every 250 ms: the coarse clock (a few ns to read, a
 * few ms of resolution) is enough, and keeps two clock reads per request off the hot path. */
static uint64_t coarse_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void srv_sock_deadline(tess_server *srv, struct MHD_Connection *mc, uint64_t us_from_now)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_sock *s = ci ? ci->socket_context : NULL;
    if (!s) return;
    atomic_store_explicit(&s->deadline_us, us_from_now ? coarse_now_us() + us_from_now : 0,
                          memory_order_relaxed);
}

void srv_sock_start(tess_server *srv, srv_sock *s)
{
    atomic_store(&s->deadline_us, coarse_now_us() + srv->idle_us + srv->request_us);
}

static void sweep(tess_server *srv)
{
    uint64_t now = coarse_now_us();
    pthread_mutex_lock(&srv->socks_lock);
    for (srv_sock *s = srv->socks; s; s = s->next) {
        uint64_t d = atomic_load_explicit(&s->deadline_us, memory_order_relaxed);
        if (d == 0 || now <= d) continue;
        atomic_store_explicit(&s->deadline_us, 0, memory_order_relaxed);
        if (shutdown(s->fd, SHUT_RDWR) == 0) atomic_fetch_add(&srv->slow_closed, 1);
    }
    pthread_mutex_unlock(&srv->socks_lock);
}

static void *guard_main(void *arg)
{
    tess_server *srv = arg;
    int ticks = 0;
    pthread_mutex_lock(&srv->guard_lock);
    while (!srv->guard_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->guard_cond, &srv->guard_lock, &ts);
        if (srv->guard_stop) break;
        pthread_mutex_unlock(&srv->guard_lock);
        sweep(srv);
        if (++ticks % (1000 / TICK_MS) == 0) srv_auth_reload(srv, 1);
        pthread_mutex_lock(&srv->guard_lock);
    }
    pthread_mutex_unlock(&srv->guard_lock);
    return NULL;
}

int srv_guard_start(tess_server *srv)
{
    if (pthread_create(&srv->guard, NULL, guard_main, srv) != 0) return TESS_ENOMEM;
    srv->guard_started = 1;
    return TESS_OK;
}

void srv_guard_stop(tess_server *srv)
{
    if (!srv->guard_started) return;
    pthread_mutex_lock(&srv->guard_lock);
    srv->guard_stop = 1;
    pthread_cond_signal(&srv->guard_cond);
    pthread_mutex_unlock(&srv->guard_lock);
    pthread_join(srv->guard, NULL);
    srv->guard_started = 0;
}
