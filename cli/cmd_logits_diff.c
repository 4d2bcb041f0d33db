/* cmd_logits_diff: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_logits_diff(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("logits-diff", "this command is not implemented yet in this build");
}
