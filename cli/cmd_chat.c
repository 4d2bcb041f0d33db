/* cmd_chat: not implemented yet (placeholder; says so instead of pretending). */
#include "cli.h"

int cmd_chat(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("chat", "this command is not implemented yet in this build");
}
