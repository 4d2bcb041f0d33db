/* cmd_tokenize: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("tokenize", "this command is not implemented yet in this build");
}
