/* cmd_compat_check: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_compat_check(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("compat-check", "this command is not implemented yet in this build");
}
