/* cmd_logits: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_logits(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("logits", "this command is not implemented yet in this build");
}
