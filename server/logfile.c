/* logfile: --log-file FILE (llama-server's): what the server writes to stderr (the notes on its
 * options, its startup lines, one line per request, libmicrohttpd's messages) also goes to
 * FILE, appended. While the options are read, before FILE is known, stderr is held in a
 * temporary file (logfile_hold) and given out once the copy to FILE runs (logfile_release). stderr becomes the write end of a pipe; a thread copies what arrives to the
 * original stderr and to the file, flushing the file after each read, so that a line is in the
 * file as soon as it is on the terminal. logfile_stop() puts stderr back and waits until the
 * thread has copied everything written before it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

static struct {
    bool on;
    int pipe_read, saved_stderr;
    FILE *file;
    pthread_t thread;
} log_tee;

/* Writes all of buf to fd (retrying short writes); false when fd refuses it. */
static bool write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

static void *copy_lines(void *arg) {
    (void)arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(log_tee.pipe_read, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* EOF: logfile_stop() closed the write end */
        write_all(log_tee.saved_stderr, buf, (size_t)n);
        if (log_tee.file && (fwrite(buf, 1, (size_t)n, log_tee.file) != (size_t)n || fflush(log_tee.file))) {
            char msg[256];
            int len = snprintf(msg, sizeof msg, "bitnet-server: --log-file: writing failed (%s); the log goes on on stderr only\n",
                               strerror(errno));
            write_all(log_tee.saved_stderr, msg, (size_t)(len > 0 ? len : 0));
            fclose(log_tee.file);
            log_tee.file = NULL;
        }
    }
    return NULL;
}

static struct {
    int saved_stderr; /* stderr before logfile_hold (a copy, >= 3); 0: stderr is not held */
    FILE *held;       /* what stderr got meanwhile; NULL: nothing held */
} log_hold;

void logfile_hold(void) {
    fflush(stderr);
    FILE *t = tmpfile();
    int saved = t ? fcntl(2, F_DUPFD_CLOEXEC, 3) : -1;
    if (saved >= 0 && dup2(fileno(t), 2) == 2) {
        log_hold.saved_stderr = saved;
        log_hold.held = t;
        return;
    }
    if (saved >= 0) close(saved); /* stderr as it was: the notes are not held, only on the terminal */
    if (t) fclose(t);
}

/* stderr back to what it was before logfile_hold (the held text kept). */
static void unhold(void) {
    if (log_hold.saved_stderr <= 0) return;
    fflush(stderr);
    dup2(log_hold.saved_stderr, 2);
    close(log_hold.saved_stderr);
    log_hold.saved_stderr = 0;
}

/* The held text to stderr (through the copy to the log file when it runs). */
static void give_out_held(void) {
    if (!log_hold.held) return;
    rewind(log_hold.held);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, log_hold.held)) > 0) write_all(2, buf, n);
    fclose(log_hold.held);
    log_hold.held = NULL;
}

void logfile_release(void) {
    unhold();
    give_out_held();
}

static int start_copy(const char *path) {
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "bitnet-server: --log-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    int fds[2] = {-1, -1}, saved = -1;
    if (pipe2(fds, O_CLOEXEC) == 0 && (saved = fcntl(2, F_DUPFD_CLOEXEC, 3)) >= 0 && dup2(fds[1], 2) == 2) {
        close(fds[1]);
        fds[1] = -1;
        log_tee.pipe_read = fds[0];
        log_tee.saved_stderr = saved;
        log_tee.file = f;
        if (pthread_create(&log_tee.thread, NULL, copy_lines, NULL) == 0) {
            log_tee.on = true;
            return 0;
        }
        dup2(saved, 2);
    }
    int err = errno;
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0) close(fds[i]);
    if (saved >= 0) close(saved);
    fclose(f);
    fprintf(stderr, "bitnet-server: --log-file %s: cannot copy stderr there: %s\n", path, strerror(err));
    return -1;
}

int logfile_start(const char *path) {
    unhold();
    int rc = start_copy(path);
    give_out_held();
    return rc;
}

void logfile_stop(void) {
    if (!log_tee.on) return;
    fflush(stderr);
    dup2(log_tee.saved_stderr, 2); /* the pipe's write end closes: the thread reads to EOF */
    pthread_join(log_tee.thread, NULL);
    close(log_tee.pipe_read);
    close(log_tee.saved_stderr);
    if (log_tee.file) fclose(log_tee.file);
    log_tee.on = false;
}
