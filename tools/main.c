/* main.c — `forkleak`: dispatches to the `run` and `report` commands, prints the top-level help
 * and the version. Nothing else lives here. */
#include "forkleak.h"

#include <stdlib.h>

static const char usage[] =
    "usage: forkleak [--version] [--help] <command> [<args>]\n"
    "\n"
    "forkleak finds memory leaks in programs that fork. libforkleak.so, preloaded into every\n"
    "process of the program, records each allocation and at each process exit writes a report\n"
    "of the blocks nothing points to any more; forkleak puts the reports of the whole process\n"
    "tree together, tells a child's own leaks from what it inherited through fork, symbolizes\n"
    "the stacks and prints them.\n"
    "\n"
    "Commands:\n"
    "   run       run a program under libforkleak.so and print its leaks on stderr\n"
    "   report    read, symbolize and print the reports in a directory\n"
    "\n"
    "See 'forkleak <command> --help' for the options of each command.\n";

/* forkleak COMMAND …: run, report, help, --version. */
int main(int argc, char **argv)
{
    if (argc < 2)
        return fputs(usage, stderr), 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc > 2 && !strcmp(cmd, "help")) {
            char *sub[] = {argv[2], "--help", NULL};
            if (!strcmp(argv[2], "run"))
                return fl_cmd_run(2, sub);
            if (!strcmp(argv[2], "report"))
                return fl_cmd_report(2, sub);
            return fl_usage_error(NULL, "no command '%s'", argv[2]);
        }
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("forkleak %s (report format %d, JSON format %d)\n", FL_VERSION, FL_REPORT_VERSION,
               FL_JSON_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return fl_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return fl_cmd_report(argc - 1, argv + 1);
    return fl_usage_error(NULL, "'%s' is not a forkleak command (run, report)", cmd);
}
