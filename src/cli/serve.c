/* serve.c — `tessera serve [--host H] [--port N] [--threads N] [--keys FILE] [--tls-cert F
 * --tls-key F] [limits]`: runs the HTTP feature server (tess_server_start) over the repo's
 * store until SIGINT or SIGTERM, then stops it cleanly and exits 0; SIGHUP rereads the keys
 * file. Prints one line, "serving on http(s)://HOST:PORT", once it listens. */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int run_serve(const cli_command *cmd, int argc, char **argv);

static const cli_optspec serve_opts[] = {
    {"host", 0, "HOST", 0, "address to listen on (default 127.0.0.1; see the note below)"},
    {"port", 'p', "N", 0, "TCP port (default 6566; 0: any free port)"},
    {"threads", 't', "N", 1, "worker threads (default: the number of CPUs)"},
    {"max-body", 0, "BYTES", 1, "largest request body (default 1048576)"},
    {"max-body-memory", 0, "BYTES", 1,
     "request bodies held at once, all connections (default 268435456; more: 503)"},
    {"max-entities", 0, "N", 1, "most entity rows per lookup (default 10000)"},
    {"max-depth", 0, "N", 1, "deepest JSON nesting of a request (default 32)"},
    {"max-connections", 0, "N", 1, "most open connections (default 1024)"},
    {"timeout", 0, "SECONDS", 1, "close connections idle this long (default 30)"},
    {"request-timeout", 0, "SECONDS", 1,
     "a request must arrive, and its reply leave, within this (default 30)"},
    {"max-connections-per-ip", 0, "N", 1,
     "most open connections from one address (default: no "
     "limit)"},
    {"max-header-bytes", 0, "BYTES", 1, "largest request line and headers (default 32768)"},
    {"keys", 0, "FILE", 0, "API keys file: every route but /health needs a key (docs/security.md)"},
    {"tls-cert", 0, "FILE", 0, "serve HTTPS with this PEM certificate (chain)..."},
    {"tls-key", 0, "FILE", 0, "...and this PEM private key (unencrypted)"},
    {"insecure", 0, NULL, 0, "allow a non-loopback --host without --keys (no access control)"},
    {"no-materialize", 0, NULL, 0, "do not bring the online store up to date before serving"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_serve = {
    .name = "serve",
    .summary = "Serve features over HTTP (Feast-compatible).",
    .synopsis = "serve [--host HOST] [--port N] [--keys FILE] [--tls-cert FILE --tls-key FILE]\n"
                "                [--threads N] [limits]",
    .description =
        "Routes: POST /get-online-features, POST /push, POST /write-to-online-store,\n"
        "GET /health, GET /metrics (Prometheus text). docs/server.md has the request and\n"
        "response shapes, the limits and the error codes.\n"
        "\n"
        "Before serving, the online store is brought up to date with the offline store\n"
        "(tessera materialize: ingests since the last materialization, and pushes a crash may\n"
        "have left unapplied), unless --no-materialize.\n"
        "\n"
        "Prints \"serving on http://HOST:PORT\" (https with --tls-cert) when ready and runs\n"
        "until SIGINT or SIGTERM. A newly applied registry version is picked up within a\n"
        "second.\n"
        "\n"
        "Access control (docs/security.md): with --keys FILE every route but GET /health\n"
        "needs \"Authorization: Bearer <key>\" with a key of the right scope (read:\n"
        "/get-online-features; write: /push, /write-to-online-store; metrics: /metrics;\n"
        "admin: all). `tessera keys new` makes keys. The file is reread when it changes\n"
        "(within a second) and on SIGHUP. Without --keys the server listens on loopback\n"
        "only: another --host (e.g. 0.0.0.0) is refused unless --insecure.\n",
    .opts = serve_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_serve,
};

static void log_line(void *arg, const char *line)
{
    fprintf(stderr, "tessera serve: %s\n", line);
}

static int run_serve(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;

    tess_server_opts o;
    memset(&o, 0, sizeof o);
    o.host = cli_opt(&a, "host");
    if (o.host && !*o.host) return cli_usage_error(cmd, "option '--host' needs an address");
    o.port = 6566;
    const char *port = cli_opt(&a, "port");
    if (port) {
        char *end;
        errno = 0;
        long v = strtol(port, &end, 10);
        if (!*port || *end || errno || v < 0 || v > 65535)
            return cli_usage_error(cmd, "option '--port' needs a port number 0..65535, got '%s'",
                                   port);
        o.port = (int)v;
    }
    int64_t threads = cli_opt_int(&a, "threads", 0);
    int64_t depth = cli_opt_int(&a, "max-depth", 0);
    int64_t conns = cli_opt_int(&a, "max-connections", 0);
    int64_t timeout = cli_opt_int(&a, "timeout", 0);
    if (threads > 1024) return cli_usage_error(cmd, "option '--threads' allows at most 1024");
    if (depth > 100000) return cli_usage_error(cmd, "option '--max-depth' allows at most 100000");
    if (cli_opt(&a, "max-depth") && depth < 2)
        return cli_usage_error(cmd, "option '--max-depth' needs at least 2");
    if (conns > 1000000)
        return cli_usage_error(cmd, "option '--max-connections' allows at most 1000000");
    if (timeout > 86400) return cli_usage_error(cmd, "option '--timeout' allows at most 86400");
    if (conns && conns < threads)
        return cli_usage_error(cmd, "option '--max-connections' must be at least --threads");
    int64_t rtimeout = cli_opt_int(&a, "request-timeout", 0);
    int64_t per_ip = cli_opt_int(&a, "max-connections-per-ip", 0);
    int64_t hdr = cli_opt_int(&a, "max-header-bytes", 0);
    if (rtimeout > 86400)
        return cli_usage_error(cmd, "option '--request-timeout' allows at most 86400");
    if (per_ip > 1000000)
        return cli_usage_error(cmd, "option '--max-connections-per-ip' allows at most 1000000");
    if (cli_opt(&a, "max-header-bytes") && (hdr < 4096 || hdr > (64 << 20)))
        return cli_usage_error(cmd, "option '--max-header-bytes' needs 4096 to 67108864");
    o.keys_file = cli_opt(&a, "keys");
    o.tls_cert_file = cli_opt(&a, "tls-cert");
    o.tls_key_file = cli_opt(&a, "tls-key");
    if ((o.keys_file && !*o.keys_file) || (o.tls_cert_file && !*o.tls_cert_file) ||
        (o.tls_key_file && !*o.tls_key_file))
        return cli_usage_error(cmd, "options '--keys', '--tls-cert' and '--tls-key' need a file");
    if (!o.tls_cert_file != !o.tls_key_file)
        return cli_usage_error(cmd, "options '--tls-cert' and '--tls-key' go together");
    o.insecure = cli_flag(&a, "insecure");
    o.request_timeout_s = (unsigned)rtimeout;
    o.max_connections_per_ip = (unsigned)per_ip;
    o.connection_memory = (size_t)hdr;
    o.threads = (int)threads;
    o.max_body_bytes = (size_t)cli_opt_int(&a, "max-body", 0);
    o.max_body_memory = (size_t)cli_opt_int(&a, "max-body-memory", 0);
    o.max_entities = (size_t)cli_opt_int(&a, "max-entities", 0);
    o.max_json_depth = (int)depth;
    o.max_connections = (unsigned)conns;
    o.timeout_s = (unsigned)timeout;
    o.log = log_line;

    tess_store *st = NULL;
    tess_server *srv = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    if (!cli_flag(&a, "no-materialize")) {
        char *mtext = NULL;
        int mrc = tess_materialize(st, NULL, &mtext);
        tess_free(mtext);
        /* nothing applied yet is fine: the server answers nothing_applied until an apply */
        if (mrc != TESS_OK && mrc != TESS_NOTFOUND) {
            rc = cli_fail(st, mrc, "cannot bring the online store up to date");
            goto out;
        }
    }

    /* the server's threads inherit this mask: only this thread takes the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lrc = tess_server_start(st, &o, &srv);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot start the server");
        goto out;
    }
    const char *host = o.host ? o.host : "127.0.0.1";
    int v6 = strchr(host, ':') != NULL;
    int loopback =
        strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
    if (!loopback && !o.keys_file)
        fprintf(stderr,
                "tessera serve: warning: serving %s without access control "
                "(--insecure): anyone who can reach it can read and push every "
                "feature\n",
                host);
    else if (!loopback && !o.tls_cert_file)
        fprintf(stderr,
                "tessera serve: warning: serving %s over plain HTTP: API keys cross the "
                "network in clear text (--tls-cert and --tls-key serve HTTPS)\n",
                host);
    printf("serving on %s://%s%s%s:%d\n", o.tls_cert_file ? "https" : "http", v6 ? "[" : "", host,
           v6 ? "]" : "", tess_server_port(srv));
    fflush(stdout);

    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        tess_server_reload_keys(srv); /* says how it went through log_line */
    }
    tess_server_stop(srv);
    srv = NULL;
    rc = CLI_OK;
out:
    tess_server_stop(srv);
    tess_store_close(st);
    return rc;
}
