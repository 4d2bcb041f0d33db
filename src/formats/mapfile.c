/* mapfile: read-only whole-file mappings (see mapfile.h). */
#include "formats/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int bn_map_file(const char *path, const uint8_t **base, uint64_t *size) {
    *base = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: not a regular file", path);
    }
    uint64_t n = (uint64_t)st.st_size;
    if (n > 0) {
        void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: cannot map %llu bytes: %s", path, (unsigned long long)n, strerror(e));
        }
        *base = p;
    }
    close(fd); /* the mapping stays valid */
    *size = n;
    return 0;
}

void bn_unmap_file(const uint8_t *base, uint64_t size) {
    if (base) munmap((void *)base, size);
}
