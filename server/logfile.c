/* logfile: --log-file FILE (llama-server's): what the server writes to stderr (the notes on its
 * options, its startup lines, one line per request, libmicrohttpd's messages) also goes to
 * FILE, appended. stderr becomes the write end of a pipe; a thread copies what arrives to the
 * file (flushed after each read) and then to the original stderr, so that a line is in the
 * file as soon as it is on the terminal and a stalled terminal does not hold the file back.
 * While the options are read, before FILE is known, stderr is held in a temporary file
 * (logfile_hold) and given out once the copy runs (logfile_release). A fatal signal (SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGABRT) first drains what the pipe still holds into FILE (and to the
 * terminal as far as it takes it at once), so that a crash's last lines are not lost with the
 * pipe; not in sanitizer builds, whose own handlers report those signals. logfile_stop() puts
 * stderr back and waits until the thread has copied everything written before it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

static struct {
    bool on;
    int pipe_read, saved_stderr;
    FILE *file;
    atomic_int file_fd;  /* FILE's descriptor for the fatal-signal drain; -1 once it is closed */
    pthread_t thread;
} log_tee;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LOGFILE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LOGFILE_SANITIZED 1
#endif
#endif

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
        if (log_tee.file && (fwrite(buf, 1, (size_t)n, log_tee.file) != (size_t)n || fflush(log_tee.file))) {
            char msg[256];
            int len = snprintf(msg, sizeof msg, "bitnet-server: --log-file: writing failed (%s); the log goes on on stderr only\n",
                               strerror(errno));
            write_all(log_tee.saved_stderr, msg, (size_t)(len > 0 ? len : 0));
            atomic_store(&log_tee.file_fd, -1);
            fclose(log_tee.file);
            log_tee.file = NULL;
        }
        write_all(log_tee.saved_stderr, buf, (size_t)n);
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

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

#ifndef LOGFILE_SANITIZED
/* A fatal signal: what the pipe still holds goes to the file, and to the terminal as far as it
 * takes it without waiting; then the signal's default action (async-signal-safe calls only). */
static void drain_and_die(int sig) {
    int fl = fcntl(log_tee.pipe_read, F_GETFL);
    if (fl >= 0) fcntl(log_tee.pipe_read, F_SETFL, fl | O_NONBLOCK);
    char buf[4096];
    ssize_t n;
    while ((n = read(log_tee.pipe_read, buf, sizeof buf)) > 0) {
        int fd = atomic_load(&log_tee.file_fd);
        if (fd >= 0) write_all(fd, buf, (size_t)n);
        struct pollfd p = {.fd = log_tee.saved_stderr, .events = POLLOUT};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) write_all(log_tee.saved_stderr, buf, (size_t)n);
    }
    raise(sig); /* SA_RESETHAND: the default action now */
}
#endif

/* The drain on the fatal signals while the copy runs (on: true), their default action after. */
static void catch_fatal_signals(bool on) {
#ifndef LOGFILE_SANITIZED
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? drain_and_die : SIG_DFL;
    sa.sa_flags = on ? SA_RESETHAND | SA_NODEFER : 0;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) sigaction(fatal_signals[i], &sa, NULL);
#else
    (void)on;
    (void)fatal_signals;
#endif
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
        atomic_init(&log_tee.file_fd, fileno(f));
        if (pthread_create(&log_tee.thread, NULL, copy_lines, NULL) == 0) {
            log_tee.on = true;
            catch_fatal_signals(true);
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
    catch_fatal_signals(false);
    dup2(log_tee.saved_stderr, 2); /* the pipe's write end closes: the thread reads to EOF */
    pthread_join(log_tee.thread, NULL);
    close(log_tee.pipe_read);
    close(log_tee.saved_stderr);
    if (log_tee.file) fclose(log_tee.file);
    log_tee.on = false;
}
