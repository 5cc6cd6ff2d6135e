/* keys.c — `tessera keys new NAME` and `tessera keys hash NAME`: API keys of the feature server
 * (docs/security.md). `new` makes a random key and prints it once, with the line of the keys
 * file (NAME SCOPES sha256:HASH) that lets it in; `hash` makes that line for a key of one's
 * own, read from standard input (never from the command line, where ps and the shell's
 * history would keep it). --file appends the line to a keys file instead of printing it.
 * Needs no feature repo. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_INPUT_MAX 512 /* the longest key the server accepts */

static int run_keys(const cli_command *cmd, int argc, char **argv);

static const cli_optspec keys_opts[] = {
    {"scopes", 's', "LIST", 0, "comma-separated: read, write, metrics, admin (default read)"},
    {"file", 'f', "FILE", 0, "append the line to this keys file (made with mode 0600)"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_keys = {
    .name = "keys",
    .summary = "Make API keys for the feature server.",
    .synopsis = "keys new NAME [--scopes LIST] [--file FILE]\n"
                "       tessera keys hash NAME [--scopes LIST] [--file FILE] < KEY",
    .description =
        "keys new NAME: makes a random key (\"tess_\" and 43 characters: 32 random bytes)\n"
        "and prints it on the first line, then the line of the keys file that lets it in:\n"
        "\"NAME SCOPES sha256:HASH\". With --file, that line is appended to FILE and only\n"
        "the key is printed. The key is shown once: the keys file holds only its hash.\n"
        "\n"
        "keys hash NAME: the keys-file line of a key you have, read from standard input\n"
        "(one line; at least 20 characters).\n"
        "\n"
        "Scopes: read (POST /get-online-features), write (POST /push,\n"
        "/write-to-online-store), metrics (GET /metrics), admin (everything). A running\n"
        "server rereads its keys file within a second of a change (docs/security.md).\n",
    .opts = keys_opts,
    .min_args = 2,
    .max_args = 2,
    .available = 1,
    .run = run_keys,
};

/* 1 if FILE already has a key named `name` (its first field), 0 if not or unreadable. */
static int name_taken(const char *file, const char *name)
{
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[1024];
    size_t n = strlen(name);
    int taken = 0;
    while (!taken && fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        taken = strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\t');
    }
    fclose(f);
    return taken;
}

/* Appends line + "\n" to file (made 0600 if absent). CLI_OK or CLI_ERR after a message. */
static int append_line(const char *file, const char *line)
{
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error("cannot open the keys file %s: %s", file, strerror(errno));
        return CLI_ERR;
    }
    /* a file not ending in a newline gets one first, so the new line stands alone */
    struct stat sb;
    char last = '\n';
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        int rfd = open(file, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (pread(rfd, &last, 1, sb.st_size - 1) != 1) last = '\n';
            close(rfd);
        }
    }
    cli_sb sb2 = {0};
    if (last != '\n') cli_sb_add(&sb2, "\n");
    cli_sb_add(&sb2, line);
    cli_sb_add(&sb2, "\n");
    const char *p = cli_sb_str(&sb2);
    size_t left = sb2.len;
    int rc = CLI_OK;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cli_error("cannot write the keys file %s: %s", file, strerror(errno));
            rc = CLI_ERR;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (rc == CLI_OK && fsync(fd) != 0) {
        cli_error("cannot write the keys file %s: %s", file, strerror(errno));
        rc = CLI_ERR;
    }
    close(fd);
    cli_sb_release(&sb2);
    return rc;
}

static int run_keys(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *verb = a.pos[0], *name = a.pos[1];
    const char *scopes = cli_opt(&a, "scopes");
    const char *file = cli_opt(&a, "file");
    if (!scopes) scopes = "read";
    if (file && !*file) return cli_usage_error(cmd, "option '--file' needs a file");
    int is_new = strcmp(verb, "new") == 0;
    if (!is_new && strcmp(verb, "hash") != 0)
        return cli_usage_error(cmd, "unknown keys command '%s' (expected new or hash)", verb);

    char key[KEY_INPUT_MAX + 2];
    char line[1024];
    if (is_new) {
        if (tess_api_key_new(key, sizeof key) != TESS_OK) {
            cli_error("cannot make a key: no randomness from the kernel");
            return CLI_ERR;
        }
    } else {
        if (isatty(STDIN_FILENO)) fprintf(stderr, "key (then Enter; it is not echoed back): ");
        if (!fgets(key, sizeof key, stdin)) {
            cli_error("no key on standard input (tessera keys hash NAME < FILE)");
            return CLI_ERR;
        }
        size_t n = strlen(key);
        if (n == sizeof key - 1 && key[n - 1] != '\n') {
            cli_error("the key on standard input is longer than %d characters", KEY_INPUT_MAX);
            return CLI_ERR;
        }
        while (n && (key[n - 1] == '\n' || key[n - 1] == '\r'))
            key[--n] = 0;
    }
    rc = tess_api_key_line(name, scopes, key, line, sizeof line);
    if (rc != TESS_OK) {
        explicit_bzero(key, sizeof key);
        /* a bad name or scope is a usage error; a bad key (hash) is the input's */
        if (!is_new && strncmp(line, "a key ", 6) == 0) {
            cli_error("%s", line);
            return CLI_ERR;
        }
        return cli_usage_error(cmd, "%s", line);
    }
    if (file && name_taken(file, name)) {
        explicit_bzero(key, sizeof key);
        cli_error("the keys file %s already has a key named \"%s\" (remove its line first to "
                  "replace it)",
                  file, name);
        return CLI_ERR;
    }
    if (file && (rc = append_line(file, line)) != CLI_OK) {
        explicit_bzero(key, sizeof key);
        return rc;
    }
    if (is_new) printf("%s\n", key);
    if (!file) printf("%s\n", line);
    if (is_new && isatty(STDOUT_FILENO))
        fprintf(stderr, "(the key is shown only this once: the keys file holds only its hash)\n");
    explicit_bzero(key, sizeof key);
    return CLI_OK;
}
