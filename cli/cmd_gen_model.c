/* cmd_gen_model: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_gen_model(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("gen-model", "this command is not implemented yet in this build");
}
