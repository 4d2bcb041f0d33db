/* cmd_bench: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("bench", "this command is not implemented yet in this build");
}
