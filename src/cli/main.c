/* main.c — the `tessera` command: global options (-C/--repo DIR, --help, --version), the table
 * of commands, `tessera help [COMMAND]`, and the final check that stdout was written.
 *
 * Every command is a cli_command in its own file (cli.h); main finds it by name and hands it
 * the rest of argv. The command is built on include/tessera.h alone.
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static int run_help(const cli_command *cmd, int argc, char **argv);

static const cli_command cmd_help = {
    .name = "help",
    .summary = "Show the help of tessera or of one command.",
    .synopsis = "help [COMMAND]",
    .min_args = 0,
    .max_args = 1,
    .available = 1,
    .run = run_help,
};

static const cli_command *const commands[] = {
    &cli_cmd_init,   &cli_cmd_plan,    &cli_cmd_apply,   &cli_cmd_ls,      &cli_cmd_describe,
    &cli_cmd_search, &cli_cmd_lineage, &cli_cmd_history, &cli_cmd_ingest,  &cli_cmd_training_set, &cli_cmd_stats,
    &cli_cmd_materialize, &cli_cmd_get, &cli_cmd_check, &cli_cmd_push, &cli_cmd_serve,
    &cli_cmd_keys, &cli_cmd_verify,
    &cli_cmd_version, &cmd_help,
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_usage(FILE *f)
{
    fputs("usage: tessera [-C DIR] <command> [options]\n"
          "\n"
          "Tessera is a feature store: define features in YAML, apply them to a registry,\n"
          "build training sets and serve them online.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-13s%s\n", commands[i]->name, commands[i]->summary);
    fputs("\n"
          "Options:\n"
          "  -C, --repo DIR  run in feature repo DIR (default: the current directory)\n"
          "  -h, --help      show this help\n"
          "      --version   print the version of tessera\n"
          "\n"
          "Run 'tessera <command> --help' for the options of a command.\n",
          f);
}

static int top_usage_error(const char *fmt, const char *arg)
{
    fputs("tessera: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nusage: tessera [-C DIR] <command> [options]\n"
          "Try 'tessera --help' for more information.\n",
          stderr);
    return CLI_USAGE;
}

static int unknown_command(const char *name)
{
    const char *cands[NCOMMANDS];
    size_t n = 0;
    for (size_t i = 0; i < NCOMMANDS; i++)
        cands[n++] = commands[i]->name;
    const char *best = cli_suggest(name, cands, n);
    fprintf(stderr, "tessera: unknown command '%s'", name);
    if (best) fprintf(stderr, " (did you mean '%s'?)", best);
    fputs("\nusage: tessera [-C DIR] <command> [options]\n"
          "Try 'tessera --help' for the list of commands.\n",
          stderr);
    return CLI_USAGE;
}

static int run_help(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    if (a.npos == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    const cli_command *c = find_command(a.pos[0]);
    if (!c) return unknown_command(a.pos[0]);
    cli_help(c, stdout);
    return CLI_OK;
}

static int run(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *s = argv[i];
        const char *dir = NULL;
        if (strcmp(s, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(s, "--version") == 0)
            return cli_cmd_version.run(&cli_cmd_version, argc - i, argv + i);
        if (strcmp(s, "-C") == 0 || strcmp(s, "--repo") == 0) {
            if (i + 1 >= argc) return top_usage_error("option '%s' needs a directory", s);
            dir = argv[++i];
        } else if (strncmp(s, "-C", 2) == 0) {
            dir = s + 2;
        } else if (strncmp(s, "--repo=", 7) == 0) {
            dir = s + 7;
        } else {
            return top_usage_error("unknown option '%s'", s);
        }
        if (!*dir) return top_usage_error("option '%s' needs a directory, got ''", s);
        if (cli_chdir(dir) != CLI_CONTINUE) return CLI_ERR;
    }
    if (i >= argc) return top_usage_error("%s", "missing command");
    const cli_command *cmd = find_command(argv[i]);
    if (!cmd) return unknown_command(argv[i]);
    return cmd->run(cmd, argc - i, argv + i);
}

int main(int argc, char **argv)
{
    /* a file-size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk,
       instead of killing the process in the middle of a commit */
    signal(SIGXFSZ, SIG_IGN);
    int rc = argc > 0 ? run(argc, argv) : CLI_USAGE;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: cannot write the output: %s\n", strerror(errno));
        return CLI_ERR;
    }
    return rc;
}
