/* cmd_trace_diff: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_trace_diff(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("trace-diff", "this command is not implemented yet in this build");
}
