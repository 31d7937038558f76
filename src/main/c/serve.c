/*
 * mirage-supervisor --serve: the launch service the plugin keeps running, so
 * that starting, signalling and watching a task costs no exec of a program.
 * The JVM writes requests to stdin and reads one-line replies from stdout;
 * every reply starts with the request's ID.
 *
 *   launch ID LEN\n + LEN bytes   the arguments of a classic supervisor
 *                                 command line, each ending in NUL. The
 *                                 supervisor is forked from here (its own
 *                                 session, as always). Replies:
 *                                   ID forked SPID TICKS (its start time; 0 unknown)
 *                                   ID report LINE   its first stdout line
 *                                   ID exited CODE   (128+N: signal N)
 *   term ID\n                     SIGTERM to that launch's supervisor while it
 *                                 is our unreaped child: ID ok | ID gone
 *   signal ID SIGNO PID TICKS\n   as --signal: ID signal RC (0 sent, 3 gone, 1 error)
 *   watch ID PID TICKS\n          ID gone, once that process has ended
 *   tap ID NAME BRIDGE MTU UID GID\n  creates a tap (UID/GID -1: none):
 *                                 ID ok | ID error MESSAGE
 *   pin ID TAP MAC IP\n            pins a tap (pins.c): ID ok | ID error MESSAGE
 *   fwd ID HOSTIP PROTO HPORT GUESTIP GPORT\n  a port forward in the ip nomad_mirage maps (pins.c):
 *                                 ID ok | ID exists | ID error MESSAGE
 *
 * Supervisors outlive this service: at EOF on stdin it exits and they are
 * reparented; a plugin that starts a new service watches them again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/prctl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"

extern char **environ;

#define MAX_PAYLOAD (1024 * 1024)
#define MAX_HEADER 512
#define ID_MAX 24

enum kind { FREE, REPORT, CHILD, WATCH };

struct entry {
    enum kind kind;
    int fd;
    pid_t pid;
    int partner; /* REPORT <-> CHILD of one launch, else -1 */
    int reported;
    size_t len;
    char id[ID_MAX];
    char line[1024];
};

static char self_path[4096] = "mirage-supervisor";
static struct entry *entries;
static size_t nentries;
static int ep = -1;
static char *requests; /* the request buffer (1 MiB): a supervisor forked from here frees its copy */

static void reply(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(const char *id, const char *fmt, ...)
{
    char body[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    one_line(body);
    char out[1300];
    int n = snprintf(out, sizeof out, "%s %s\n", id, body);
    if (n >= (int)sizeof out) {
        out[sizeof out - 2] = '\n';
        out[sizeof out - 1] = '\0';
    }
    size_t len = strlen(out);
    const char *p = out;
    while (len > 0) {
        ssize_t w = write(1, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(0); /* the plugin is gone: so is our reason to be */
        p += w;
        len -= (size_t)w;
    }
}

static int add(enum kind kind, int fd, pid_t pid, const char *id)
{
    size_t i = 0;
    while (i < nentries && entries[i].kind != FREE)
        i++;
    if (i == nentries) {
        size_t grown = nentries == 0 ? 64 : nentries * 2;
        struct entry *more = realloc(entries, grown * sizeof *more);
        if (more == NULL)
            return -1;
        for (size_t k = nentries; k < grown; k++)
            more[k].kind = FREE;
        entries = more;
        nentries = grown;
    }
    struct entry *e = &entries[i];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->fd = fd;
    e->pid = pid;
    e->partner = -1;
    snprintf(e->id, sizeof e->id, "%s", id);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        e->kind = FREE;
        return -1;
    }
    return (int)i;
}

static void drop(int i)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, entries[i].fd, NULL);
    close(entries[i].fd);
    if (entries[i].partner >= 0)
        entries[entries[i].partner].partner = -1;
    entries[i].kind = FREE;
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0U);
#else
    (void)pid;
    return errno = ENOSYS, -1;
#endif
}

/* Reads what the supervisor wrote; replies with its first line once it is complete or the pipe ended. */
static void read_report(int i, int final)
{
    struct entry *e = &entries[i];
    for (;;) {
        char buf[512];
        ssize_t n = read(e->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            for (ssize_t k = 0; k < n && !e->reported; k++) {
                if (buf[k] == '\n') {
                    e->reported = 1;
                    e->line[e->len] = '\0';
                    reply(e->id, "report %s", e->line);
                } else if (e->len < sizeof e->line - 1) {
                    e->line[e->len++] = buf[k];
                }
            }
            continue;
        }
        if (n < 0 && errno == EAGAIN && !final)
            return;
        break; /* EOF, or nothing more will come */
    }
    if (!e->reported) {
        e->line[e->len] = '\0';
        reply(e->id, "report %s", e->line);
    }
    drop(i);
}

static void child_ended(int i)
{
    struct entry *e = &entries[i];
    int status;
    pid_t r;
    do
        r = waitpid(e->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* not yet */
    if (e->partner >= 0)
        read_report(e->partner, 1);
    int code = r < 0 ? 255 : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    reply(e->id, "exited %d", code);
    drop(i);
}

/*
 * Makes [START, END) this process's argument area, which /proc/PID/cmdline and ps show. PR_SET_MM_MAP
 * sets every field of the memory map's description at once and, unlike the single-field PR_SET_MM
 * calls (CAP_SYS_RESOURCE), needs no capability unless the executable changes: all other fields are
 * given as they are (from /proc/self/stat, and the break from sbrk).
 */
static int set_argument_area(unsigned long start, unsigned long end)
{
    char buf[2048];
    char *p = stat_fields(getpid(), buf, sizeof buf);
    if (p == NULL)
        return -1;
    if (p[0] == '\0' || p[1] != ' ')
        return -1;
    p += 2; /* past the state letter, field 3 */
    unsigned long long field[52] = {0};
    for (int k = 4; k < 52; k++) {
        char *next;
        field[k] = strtoull(p, &next, 10);
        if (next == p || (*next != ' ' && *next != '\n'))
            return -1;
        p = next + 1;
    }
    struct prctl_mm_map map;
    memset(&map, 0, sizeof map);
    map.start_code = field[26];
    map.end_code = field[27];
    map.start_stack = field[28];
    map.start_data = field[45];
    map.end_data = field[46];
    map.start_brk = field[47];
    map.brk = (uint64_t)(uintptr_t)sbrk(0);
    map.arg_start = start;
    map.arg_end = end;
    map.env_start = field[50];
    map.env_end = field[51];
    map.exe_fd = (uint32_t)-1;
    return prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof map, 0L);
}

/*
 * A supervisor forked from here keeps what an exec gave it, with no exec: ps and /proc/PID/cmdline
 * show its own command line, not the service's. ARGV (ending in NULL) is copied into one buffer of
 * its own, which becomes the process's argument area, and ARGV then points into it. The service's
 * descriptors are closed by supervise(); its buffers are freed by the caller.
 */
static int own_command_line(char **argv)
{
    size_t size = 0;
    for (char **p = argv; *p != NULL; p++)
        size += strlen(*p) + 1;
    char *line = malloc(size);
    if (line == NULL)
        return -1;
    char *at = line;
    for (char **p = argv; *p != NULL; p++) {
        size_t n = strlen(*p) + 1;
        memcpy(at, *p, n);
        *p = at;
        at += n;
    }
    return set_argument_area((unsigned long)line, (unsigned long)line + size);
}

static void launch(const char *id, char *payload, size_t len)
{
    if (len == 0 || payload[len - 1] != '\0') {
        reply(id, "report error the launch request's arguments do not end in NUL");
        reply(id, "exited 2");
        return;
    }
    size_t argc = 1;
    for (size_t k = 0; k < len; k++)
        argc += payload[k] == '\0';
    char **argv = calloc(argc + 1, sizeof *argv);
    int rep[2];
    if (argv == NULL || pipe2(rep, O_CLOEXEC) < 0) {
        reply(id, "report error %s", strerror(errno));
        reply(id, "exited 1");
        free(argv);
        return;
    }
    argv[0] = self_path;
    size_t a = 1;
    for (char *p = payload; p < payload + len; p += strlen(p) + 1)
        argv[a++] = p;
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        if (dup2(rep[1], 1) < 0)
            _exit(1);
        int in = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (in < 0 || dup2(in, 0) < 0)
            _exit(1);
        /* The supervisor moves its stderr to its run directory's log at its first message (the service's own
           stderr is discarded); until then nothing of the service's may reach it. */
        if (dup2(in, 2) < 0)
            _exit(1);
        /* Run in this fork: an exec of this binary again was a tenth of a start. See own_command_line. */
        if (own_command_line(argv) == 0) {
            free(entries);
            free(requests);
            _exit(supervise((int)a, argv));
        }
        /* The same binary even if its file was replaced meanwhile (an upgrade): /proc/self/exe. */
        execve("/proc/self/exe", argv, environ);
        _exit(supervise((int)a, argv));
    }
    int saved = errno;
    free(argv);
    close(rep[1]);
    if (pid < 0) {
        close(rep[0]);
        reply(id, "report error fork: %s", strerror(saved));
        reply(id, "exited 1");
        return;
    }
    fcntl(rep[0], F_SETFL, O_NONBLOCK);
    /* Our unreaped child: its pid cannot be reused, so the pidfd is surely its. */
    int pidfd = pidfd_of(pid);
    /* Its start time is its own from the fork on (exec keeps it): with the pid, the identity it records. */
    char state;
    unsigned long long ticks = 0;
    if (read_stat(pid, &state, &ticks) < 0)
        ticks = 0;
    reply(id, "forked %d %llu", (int)pid, ticks);
    int r = add(REPORT, rep[0], pid, id);
    int c = pidfd < 0 ? -1 : add(CHILD, pidfd, pid, id);
    if (r < 0 || c < 0) {
        /* Cannot follow it: let it go, and say so; the plugin falls back to polling. */
        if (r >= 0)
            read_report(r, 1);
        else
            close(rep[0]);
        if (pidfd >= 0 && c < 0)
            close(pidfd);
        reply(id, "error cannot follow supervisor %d: %s", (int)pid, strerror(errno));
        return;
    }
    entries[r].partner = c;
    entries[c].partner = r;
}

static int find_child(const char *id)
{
    for (size_t i = 0; i < nentries; i++)
        if (entries[i].kind == CHILD && strcmp(entries[i].id, id) == 0)
            return (int)i;
    return -1;
}

static void watch_process(const char *id, long long pid, long long ticks)
{
    char state;
    unsigned long long actual;
    int pidfd = pidfd_of((pid_t)pid);
    if (pidfd < 0 || read_stat((pid_t)pid, &state, &actual) < 0 || actual != (unsigned long long)ticks
        || state == 'Z' || state == 'X') {
        if (pidfd >= 0)
            close(pidfd);
        reply(id, "gone");
        return;
    }
    if (add(WATCH, pidfd, (pid_t)pid, id) < 0) {
        close(pidfd);
        reply(id, "error cannot watch %lld: %s", pid, strerror(errno));
    }
}

/*
 * Splits a request line into at most `max` space-separated words of at most `size` - 1 characters each;
 * returns how many, or -1 when a word is too long or there are more. (No sscanf: it would bring the C
 * library's whole scanf and locale tables into every supervisor's resident memory.)
 */
static int words(const char *line, char (*out)[64], int max)
{
    int n = 0;
    while (*line != '\0') {
        while (*line == ' ')
            line++;
        if (*line == '\0')
            break;
        if (n == max)
            return -1;
        size_t k = 0;
        while (line[k] != '\0' && line[k] != ' ')
            k++;
        if (k >= sizeof out[0])
            return -1;
        memcpy(out[n], line, k);
        out[n][k] = '\0';
        n++;
        line += k;
    }
    return n;
}

static int request(const char *header, char *payload, size_t len)
{
    char w[7][64];
    int n = words(header, w, 7);
    if (n < 2 || strlen(w[0]) >= 16 || strlen(w[1]) >= ID_MAX)
        return -1;
    const char *verb = w[0], *id = w[1], *a = w[2], *b = w[3], *c = w[4], *d = w[5], *e = w[6];
    long long x, y, z, u, g;
    if (strcmp(verb, "launch") == 0 && n == 3) {
        launch(id, payload, len);
    } else if (strcmp(verb, "term") == 0 && n == 2) {
        int i = find_child(id);
#ifdef SYS_pidfd_send_signal
        if (i >= 0 && syscall(SYS_pidfd_send_signal, entries[i].fd, SIGTERM, NULL, 0U) == 0)
            reply(id, "ok");
        else
#endif
            reply(id, "gone");
    } else if (strcmp(verb, "signal") == 0 && n == 5 && parse_long(a, 1, 64, &x) == 0
               && parse_long(b, 1, 0x7fffffff, &y) == 0 && parse_long(c, 0, 0x7fffffffffffffffLL, &z) == 0) {
        reply(id, "signal %d", send_signal(x, y, z));
    } else if (strcmp(verb, "watch") == 0 && n == 4 && parse_long(a, 1, 0x7fffffff, &y) == 0
               && parse_long(b, 0, 0x7fffffffffffffffLL, &z) == 0) {
        watch_process(id, y, z);
    } else if (strcmp(verb, "tap") == 0 && n == 7 && parse_long(c, 68, 65535, &x) == 0
               && parse_long(d, -1, 0xfffffffeLL, &u) == 0 && parse_long(e, -1, 0xfffffffeLL, &g) == 0) {
        char why[300];
        if (tap_create(a, b, (long)x, (long)u, (long)g, why, sizeof why) == 0)
            reply(id, "ok");
        else
            reply(id, "error %s", why);
    } else if (strcmp(verb, "fwd") == 0 && n == 7 && parse_long(c, 1, 65535, &x) == 0
               && parse_long(e, 1, 65535, &y) == 0) {
        char why[400];
        if (fwd_add(a, b, (long)x, d, (long)y, why, sizeof why) == 0)
            reply(id, "ok");
        else if (errno == EEXIST)
            reply(id, "exists %s", why);
        else
            reply(id, "error %s", why);
    } else if (strcmp(verb, "pin") == 0 && n == 5) {
        char why[300];
        if (pin_add(a, b, c, why, sizeof why) == 0)
            reply(id, "ok");
        else
            reply(id, "error %s", why);
    } else {
        return -1;
    }
    return 0;
}

int serve(void)
{
    close_inherited_fds();
    ssize_t n_self = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n_self > 0)
        self_path[n_self] = '\0';
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL); /* children stay zombies until we wait for them */
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        putf(2, "mirage-supervisor: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    struct epoll_event in_ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in_ev) < 0) {
        putf(2, "mirage-supervisor: epoll on stdin: %s\n", strerror(errno));
        return 1;
    }
    size_t cap = MAX_HEADER + MAX_PAYLOAD + 1;
    char *buf = requests = malloc(cap);
    size_t have = 0;
    if (buf == NULL)
        return 1;
    for (;;) {
        struct epoll_event events[64];
        int n = epoll_wait(ep, events, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 1;
        for (int k = 0; k < n; k++) {
            uint32_t i = events[k].data.u32;
            if (i != UINT32_MAX) {
                if (i >= nentries || entries[i].kind == FREE)
                    continue; /* dropped earlier in this batch */
                if (entries[i].kind == REPORT)
                    read_report((int)i, 0);
                else if (entries[i].kind == CHILD)
                    child_ended((int)i);
                else {
                    reply(entries[i].id, "gone");
                    drop((int)i);
                }
                continue;
            }
            ssize_t r = read(0, buf + have, cap - 1 - have);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                return 0; /* the plugin is gone; supervisors go on without us */
            have += (size_t)r;
            for (;;) {
                char *nl = memchr(buf, '\n', have);
                if (nl == NULL) {
                    if (have > MAX_HEADER) {
                        putf(2, "mirage-supervisor: request line too long\n");
                        return 2;
                    }
                    break;
                }
                *nl = '\0';
                size_t header_len = (size_t)(nl - buf) + 1;
                size_t payload_len = 0;
                char w[3][64];
                long long len = 0;
                if (words(buf, w, 3) == 3 && strcmp(w[0], "launch") == 0) {
                    if (parse_long(w[2], 1, MAX_PAYLOAD, &len) < 0) {
                        putf(2, "mirage-supervisor: bad launch length %s\n", w[2]);
                        return 2;
                    }
                    payload_len = (size_t)len;
                }
                if (have < header_len + payload_len) {
                    *nl = '\n';
                    break; /* the payload is still coming */
                }
                if (request(buf, buf + header_len, payload_len) < 0) {
                    putf(2, "mirage-supervisor: bad request: %s\n", buf);
                    return 2;
                }
                memmove(buf, buf + header_len + payload_len, have - header_len - payload_len);
                have -= header_len + payload_len;
            }
        }
    }
}
