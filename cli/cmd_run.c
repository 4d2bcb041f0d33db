/* cmd_run: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("run", "this command is not implemented yet in this build");
}
