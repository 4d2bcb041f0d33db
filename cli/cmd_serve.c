/* cmd_serve: `bitnet serve ARGS...` runs the HTTP server, the bitnet-server program that
 * `make` builds beside the bitnet binary (only when libmicrohttpd and jansson are installed;
 * without it this command says how to get it). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The path of bitnet-server in the folder of the running binary; -1 when it cannot be told. */
static int server_path(char *out, size_t cap) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    int len = snprintf(out, cap, "%s/bitnet-server", slash ? self : ".");
    return len > 0 && (size_t)len < cap ? 0 : -1;
}

int cmd_serve(int argc, char **argv) {
    char path[PATH_MAX + 32];
    if (server_path(path, sizeof path)) return cli_fail("serve", "cannot find the folder of this program (/proc/self/exe)");
    if (access(path, X_OK) != 0) {
        fprintf(stderr,
                "bitnet serve: %s is missing: the server was not built because libmicrohttpd and jansson were not\n"
                "found when bitnet was built (`pkg-config --exists libmicrohttpd jansson` failed). Install them\n"
                "(Debian/Ubuntu: sudo apt-get install libmicrohttpd-dev libjansson-dev pkg-config), then run `make`.\n",
                path);
        return 1;
    }
    argv[0] = path;
    (void)argc;
    execv(path, argv);
    return cli_fail("serve", "cannot run %s: %s", path, strerror(errno));
}
