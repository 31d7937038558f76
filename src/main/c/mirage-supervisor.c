/*
 * mirage-supervisor: keeps one tender process (solo5-hvt, solo5-spt, qemu...)
 * supervised independently of the plugin JVM. It runs in its own session, so
 * the plugin dying, restarting or having its process group signalled does not
 * touch it; it records the tender's identity and exit status in a run
 * directory that a restarted plugin reads to re-attach.
 *
 *   mirage-supervisor --run-dir DIR [--stdout PATH] [--stderr PATH]
 *       [--user UID --group GID [--groups G1,G2,...] [--own-uid] [--private-dev PATH]...]
 *       [--cgroup DIR | --cgroup-join DIR]... [--cgroup-write DIR/FILE=VALUE]...
 *       [--oom-score-adj N] [--netns PATH] [--chdir DIR] -- TENDER [ARGS...]
 *
 * The tender gets exactly the environment this program received, with
 * PR_SET_NO_NEW_PRIVS set (no setuid or file-capability gain through exec) and
 * RLIMIT_CORE 0 (a crashing tender leaves no core holding guest memory).
 *   --private-dev PATH   (repeatable; PATH is /dev/net/tun or /dev/kvm) the
 *                  tender gets a mount namespace of its own in which PATH is
 *                  a new node for the same device, owned by UID:GID, mode
 *                  0600, made in a tmpfs mounted on DIR/devices there. So a
 *                  tender opens its tap by name and KVM without any access
 *                  to the host's nodes, which stay as they are; a tap must
 *                  still be owned by UID (TUNSETIFF refuses anyone else
 *                  without CAP_NET_ADMIN).
 *   --cgroup DIR   (repeatable, one per v1 hierarchy or one on v2) the tender
 *                  runs in cgroup DIR: the child creates it (an existing one
 *                  is used as it is), writes the --cgroup-write values of DIR
 *                  in the order given, and joins it, all as root before it
 *                  drops to UID and execs; so the tender never runs a moment
 *                  outside its limits. Once the tender has ended (or never
 *                  started) and what its uid left was ended, this program
 *                  removes DIR again, after ending what the tender left in
 *                  it (SIGKILL through a pidfd, each pid checked to still be
 *                  a member); one that cannot be removed stays for whoever
 *                  destroys the task.
 *   --cgroup-join DIR  like --cgroup for a cgroup someone else owns (Nomad's
 *                  cpuset for reserved cores): joined, never created, written
 *                  or removed.
 *   --cgroup-write DIR/FILE=VALUE  a limit for a --cgroup DIR; FILE is a plain
 *                  name in DIR.
 *   --oom-score-adj N  the tender's /proc/self/oom_score_adj (Nomad's agent
 *                  runs at -1000, which no OOM kill can ever pick; 0 resets it)
 *   --netns PATH   the tender runs in the network namespace PATH (a Nomad
 *                  group's /var/run/netns/ID or /var/run/docker/netns/ID), so
 *                  it opens its tap there by name; this program stays in its
 *                  own. PATH is absolute, at most NETNS_PATH_MAX bytes, never
 *                  followed through a symlink, and must be a file of nsfs (a
 *                  namespace bind mount); the child joins it (setns) as root
 *                  before cgroups, private devices and the drop to UID.
 *   --own-uid      UID belongs to this task alone: once the tender has ended,
 *                  every process of UID is killed (kill(-1) as UID), so
 *                  nothing it left behind runs on. (Nothing is killed before
 *                  the exec: kill(-1) cannot tell whether UID has processes,
 *                  and another plugin's task with an overlapping uid range
 *                  must never be hit.)
 *
 * The tender's stdout (the unikernel's console) and stderr are pipes to this program, which copies
 * them to PATH (Nomad's log FIFOs, or plain files) and keeps the last lines
 * (at most 20 lines, 2 KiB) as crash context:
 *   - PATH is opened by this program, as root, without following a symlink;
 *     it must be a FIFO or a regular file (a missing PATH becomes a new
 *     regular file; /dev/null, or no PATH, discards the output). A FIFO is
 *     opened only once a reader has it open: the tender is exec'd after both
 *     outputs are open, as before, and a forwarded TERM meanwhile ends it.
 *   - a slow reader holds the copy back (and so the tender, as a direct write
 *     would); a reader that goes away (EPIPE) makes the copy drop output until
 *     a reader is back, on the same FIFO or on one recreated at PATH. The
 *     tender never blocks on the tail.
 *   - once the tender has ended, what it left in the pipes is copied out
 *     (what a slow reader has not taken 5 s later is dropped) and the outputs
 *     are closed before console.tail and status are written. A process the
 *     tender left behind loses its stdout/stderr then; and a supervisor
 *     killed with SIGKILL leaves the tender a broken pipe (SIGPIPE at its
 *     next write), where it used to run on unsupervised.
 * Files kept in DIR, each written atomically (tmp, rename). Not fsync'd: they
 * describe processes, which a crash of the host ends anyway; a plugin or
 * supervisor crash leaves them in the page cache, where readers find them:
 *   supervisor    pid, start_ticks of this process (written before the fork)
 *   tender        pid, start_ticks of the tender (written once exec succeeded)
 *   console.tail  the last console lines, stdout and stderr interleaved by line
 *                 ('\r' removed, NUL shown as '?'); written before status, so
 *                 whoever sees status also sees it
 *   status        exit_code, signal, core_dumped, exited_at_ns [, errno, failure]
 * All but console.tail hold "key=value" lines.
 * The first line on stdout is "started PID STARTTICKS" or
 * "exec-failed ERRNO MESSAGE" (also when an output PATH cannot be opened) or
 * "error MESSAGE"; stdout and stderr then go to DIR/supervisor.log so that no
 * pipe to the launching process is kept open.
 *
 *   mirage-supervisor --signal SIGNO --pid PID --start-ticks TICKS
 *
 * sends a signal only if PID still is the process that started at TICKS
 * (through a pidfd, so a reused pid is never signalled). Exit 0: sent;
 * 3: that process is gone; 1: error; 2: usage.
 *
 *   mirage-supervisor --watch --pid PID --start-ticks TICKS
 *
 * blocks until that process has ended.
 *
 *   mirage-supervisor --serve
 *
 * is the launch service the plugin keeps (serve.c): it forks supervisors as
 * above, signals and watches processes and creates taps (tap.c) on request,
 * so that none of that costs the exec of a program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

#define COPY_BUF 16384       /* per stream: one pipe read, then written on */
#define TAIL_BYTES 2048      /* console.tail holds at most this much... */
#define TAIL_LINES 20        /* ...and at most this many lines */
#define TAIL_LINE_MAX 256    /* a longer line goes into the tail in pieces */
#define DRAIN_MS 5000        /* output left after the tender ended waits this long for a slow reader */
#define OUTPUT_DISCARD (-2)  /* open_output: the path is the null device */
#define NETNS_PATH_MAX 128   /* --netns: short enough for a failure message to name it whole */
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673 /* linux/magic.h */
#endif

extern char **environ;

static const int forwarded[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED ((int)(sizeof forwarded / sizeof forwarded[0]))

/* Set while the tender is unreaped, so a forwarded signal can never hit a reused pid. */
static volatile sig_atomic_t tender_pid;

#define MAX_CGROUPS 8
#define MAX_CGROUP_WRITES 32

struct cgroup_write {
    const char *dir, *file, *value;
};

struct options {
    const char *run_dir, *out, *err, *chdir_to, *groups, *netns;
    long uid, gid;
    int own_uid;
    const char *cgroups[MAX_CGROUPS];
    int cgroup_created[MAX_CGROUPS]; /* --cgroup (created, written, removed) rather than --cgroup-join */
    size_t ncgroups;
    struct cgroup_write cgroup_writes[MAX_CGROUP_WRITES];
    size_t ncgroup_writes;
    long oom_score_adj;
    int set_oom_score_adj;
    const char *private_devs[2];
    size_t nprivate_devs;
    gid_t *group_list;
    size_t ngroups;
    char **argv;
};

struct child_failure {
    int err;
    char message[256];
};

void put(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

/*
 * DIR/supervisor.log is created at the first message, not at every launch: a file creation costs a
 * start 0.1-0.5 ms on a busy ext4 (the inode allocator skips recently deleted inodes), and most
 * supervisors never have anything to say. Until the first stdout line (the report) only stderr goes
 * there; after it, stdout too.
 */
static const char *log_dir;
static int log_fd = -1;
static int stdout_to_log;

static void open_log(void)
{
    char path[PATH_MAX];
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/supervisor.log", log_dir) < (int)sizeof path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_fd = fd;
    if (fd >= 0) {
        dup2(fd, 2);
        if (stdout_to_log)
            dup2(fd, 1);
    }
}

void putf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void putf(int fd, const char *fmt, ...)
{
    if (log_dir != NULL && log_fd < 0 && (fd == 2 || (fd == 1 && stdout_to_log)))
        open_log();
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(fd, buf);
}

/* Status lines and the first stdout line are line-based: keep messages on one line. */
void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = '?';
}

int parse_long(const char *s, long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

char *stat_fields(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : ESRCH;
        return NULL;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name before it may hold ')' and spaces */
    if (p == NULL || p[1] != ' ')
        return errno = EINVAL, NULL;
    return p + 2;
}

/* State (field 3) and start time (field 22) from /proc/PID/stat. */
int read_stat(pid_t pid, char *state, unsigned long long *start_ticks)
{
    char buf[2048];
    char *p = stat_fields(pid, buf, sizeof buf);
    if (p == NULL)
        return -1;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return errno = EINVAL, -1;
        p++;
    }
    char *end;
    *start_ticks = strtoull(p, &end, 10);
    return end == p ? (errno = EINVAL, -1) : 0;
}

int write_atomic(const char *dir, const char *name, const char *content)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp
        || snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst)
        return errno = ENAMETOOLONG, -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(content);
    const char *p = content;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            unlink(tmp);
            return errno = saved, -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0) {
        int saved = errno;
        unlink(tmp);
        return errno = saved, -1;
    }
    return rename(tmp, dst);
}

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static unsigned long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* Why open_output refused a path it could have opened; errno alone would not say. */
static const char *refusal;

/*
 * Opens an output path for writing: a FIFO (non-blocking: ENXIO while no reader has it open)
 * or a regular file (appending). What is checked is what gets opened: an O_PATH descriptor of
 * the path itself (a symlink is not followed) is checked with fstat, then reopened through
 * /proc/self/fd. Only a missing path is created (a regular file), and only when create is set.
 * The null device means "discard the output": OUTPUT_DISCARD, nothing is opened.
 */
static int open_output(const char *path, int create)
{
    refusal = NULL;
    for (;;) {
        int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0) {
            if (errno != ENOENT || !create)
                return -1;
            int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd >= 0 || errno != EEXIST)
                return fd;
            continue; /* created meanwhile: look at what it is */
        }
        struct stat st;
        if (fstat(pfd, &st) < 0) {
            int saved = errno;
            close(pfd);
            return errno = saved, -1;
        }
        if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
            close(pfd);
            return OUTPUT_DISCARD;
        }
        if (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode)) {
            int link = S_ISLNK(st.st_mode);
            close(pfd);
            refusal = link ? "is a symbolic link, which is not followed" : "is neither a FIFO nor a regular file";
            return errno = link ? ELOOP : EINVAL, -1;
        }
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
        int fd;
        do
            fd = open(proc, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        int saved = errno;
        close(pfd);
        errno = saved;
        return fd;
    }
}

/*
 * One of the tender's output streams: a pipe from the tender (in), copied to the output path
 * (out; -1 discards), with the bytes read but not yet written in buf, and the line being
 * assembled for the tail.
 */
struct stream {
    const char *name, *path;
    int in, out;
    int dropping; /* the last write failed (reader gone): output is dropped until one succeeds */
    unsigned long long next_reopen_ns;
    size_t off, len, line_len;
    char line[TAIL_LINE_MAX];
    char buf[COPY_BUF];
};

static struct stream streams[2];

/* The last TAIL_BYTES bytes of complete lines, from both streams, in a ring. */
static struct {
    char bytes[TAIL_BYTES];
    size_t head, used;
    char overwritten; /* the byte the ring last overwrote: '\n' when it starts on a line */
} tail = {.overwritten = '\n'};

static void tail_put(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tail.used == TAIL_BYTES)
            tail.overwritten = tail.bytes[tail.head];
        else
            tail.used++;
        tail.bytes[tail.head] = p[i];
        tail.head = (tail.head + 1) % TAIL_BYTES;
    }
}

static void commit_line(struct stream *s)
{
    s->line[s->line_len++] = '\n';
    tail_put(s->line, s->line_len);
    s->line_len = 0;
}

/* Whole lines only go into the ring, so the two streams interleave by line. */
static void feed_tail(struct stream *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n') {
            commit_line(s);
        } else if (c != '\r') {
            s->line[s->line_len++] = c == '\0' ? '?' : c;
            if (s->line_len == TAIL_LINE_MAX - 1)
                commit_line(s);
        }
    }
}

/* The tail as text (at most TAIL_BYTES bytes and TAIL_LINES lines) into out[TAIL_BYTES + 1]. */
static void tail_text(char *out)
{
    for (int k = 0; k < 2; k++)
        if (streams[k].line_len > 0)
            commit_line(&streams[k]);
    size_t start = (tail.head + TAIL_BYTES - tail.used) % TAIL_BYTES, n = 0;
    for (size_t i = 0; i < tail.used; i++)
        out[n++] = tail.bytes[(start + i) % TAIL_BYTES];
    out[n] = '\0';
    char *from = out, *end = out + n;
    if (tail.overwritten != '\n') { /* the ring starts inside a line: drop that piece */
        char *nl = memchr(out, '\n', n);
        from = nl != NULL ? nl + 1 : end;
    }
    char *p = end;
    for (int lines = 0; p > from && lines < TAIL_LINES; lines++) {
        char *q = p - 1; /* the newline ending the line before p */
        while (q > from && q[-1] != '\n')
            q--;
        p = q;
    }
    memmove(out, p, (size_t)(end - p) + 1);
}

static void note(const struct stream *s, const char *what)
{
    putf(2, "mirage-supervisor: %s %s: %s\n", s->name, s->path != NULL ? s->path : "(none)", what);
}

/*
 * After EPIPE: Nomad's log reader may be back on a FIFO recreated at the same path (a reader
 * back on the same FIFO needs nothing: the next write succeeds). Tried at most once a second.
 */
static int reopen(struct stream *s)
{
    unsigned long long now = mono_ns();
    if (s->path == NULL || s->out < 0 || now < s->next_reopen_ns)
        return 0;
    s->next_reopen_ns = now + 1000000000ULL;
    int fd = open_output(s->path, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || dup3(fd, s->out, O_CLOEXEC) < 0) {
        close(fd);
        return 0;
    }
    close(fd);
    note(s, "reopened the path: a reader has it open");
    return 1;
}

/* Writes the pending bytes without blocking; some stay pending only while a reader is slow. */
static void flush(struct stream *s)
{
    while (s->len > 0) {
        if (s->out < 0) {
            s->len = 0;
            break;
        }
        ssize_t n = write(s->out, s->buf + s->off, s->len);
        if (n > 0) {
            if (s->dropping) {
                note(s, "writing again; the output in between was dropped");
                s->dropping = 0;
            }
            s->off += (size_t)n;
            s->len -= (size_t)n;
            continue;
        }
        int err = n < 0 ? errno : EIO;
        if (err == EINTR)
            continue;
        if (err == EAGAIN)
            return;
        if (err == EPIPE && reopen(s))
            continue;
        if (!s->dropping) {
            char what[200];
            snprintf(what, sizeof what, "%s; dropping output until it can be written again",
                     err == EPIPE ? "the reader went away" : strerror(err));
            note(s, what);
            s->dropping = 1;
        }
        s->len = 0;
    }
    s->off = 0;
}

/* Reads one chunk from the tender and passes it on: 1 if it got bytes, 0 if none now, -1 at EOF. */
static int pump(struct stream *s)
{
    ssize_t n;
    do
        n = read(s->in, s->buf, sizeof s->buf);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        feed_tail(s, s->buf, (size_t)n);
        s->off = 0;
        s->len = (size_t)n;
        flush(s);
        return 1;
    }
    if (n < 0 && errno == EAGAIN)
        return 0;
    close(s->in);
    s->in = -1;
    return -1;
}

/* Ended (exited or killed), but not reaped: WNOWAIT keeps the pid ours. */
static int tender_ended(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | WNOHANG) < 0)
        return errno != EINTR; /* the waitpid that follows reports the error */
    return info.si_pid == pid;
}

/*
 * Copies the tender's output until the tender has ended. Reading a stream pauses while its
 * reader is slow (the pipe then fills and holds the tender back, as a direct write would);
 * the tail itself never holds anything back. A pidfd says when the tender ended; without one
 * (kernels before 5.3) that is checked every 100 ms.
 */
static void copy_until_exit(pid_t pid, int pidfd)
{
    for (;;) {
        struct pollfd p[3];
        struct stream *owner[3];
        nfds_t n = 0;
        for (int k = 0; k < 2; k++) {
            struct stream *s = &streams[k];
            if (s->len > 0)
                p[n] = (struct pollfd){.fd = s->out, .events = POLLOUT};
            else if (s->in >= 0)
                p[n] = (struct pollfd){.fd = s->in, .events = POLLIN};
            else
                continue;
            owner[n++] = s;
        }
        nfds_t exit_slot = n;
        if (pidfd >= 0) {
            p[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            owner[n++] = NULL;
        }
        int r = poll(p, n, pidfd >= 0 ? -1 : 100);
        if (r < 0 && errno == EINTR)
            continue; /* a forwarded signal */
        if (r < 0) {
            putf(2, "mirage-supervisor: poll: %s\n", strerror(errno));
            usleep(100000);
        }
        for (nfds_t i = 0; r > 0 && i < exit_slot; i++) {
            if (p[i].revents == 0)
                continue;
            if (owner[i]->len > 0)
                flush(owner[i]);
            else
                pump(owner[i]);
        }
        if ((pidfd < 0 || r < 0 || p[exit_slot].revents != 0) && tender_ended(pid))
            return;
    }
}

/*
 * After the tender was reaped: what it left in the pipes is read and passed on (reading stops
 * at the first empty read: a process it left behind cannot keep this going), waiting up to
 * DRAIN_MS in all for a slow reader, then the outputs are closed.
 */
static void drain(void)
{
    unsigned long long deadline = mono_ns() + DRAIN_MS * 1000000ULL;
    for (int busy = 1; busy;) {
        busy = 0;
        for (int k = 0; k < 2; k++) {
            struct stream *s = &streams[k];
            while (s->len > 0) {
                flush(s);
                unsigned long long now = mono_ns();
                if (s->len == 0)
                    break;
                if (now >= deadline) {
                    note(s, "the reader did not take the tender's last output in time; the rest is dropped");
                    s->len = 0;
                    close(s->out);
                    s->out = -1;
                    break;
                }
                struct pollfd p = {.fd = s->out, .events = POLLOUT};
                poll(&p, 1, (int)((deadline - now) / 1000000ULL) + 1);
            }
            if (s->in >= 0 && pump(s) > 0)
                busy = 1;
            else if (s->in >= 0) {
                close(s->in);
                s->in = -1;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (streams[k].out >= 0)
            close(streams[k].out);
        streams[k].out = -1;
    }
}

/*
 * Opens the output paths, retrying while a FIFO has no reader yet. Returns 0 once they are
 * open; 1 if the child ended (or reported a failure) meanwhile; -1, with *failure filled in,
 * when a path cannot be used.
 */
static int open_outputs(int report, struct child_failure *failure)
{
    int delay_ms = 5, said = 0;
    for (;;) {
        const char *waiting = NULL;
        for (int k = 0; k < 2; k++) {
            struct stream *s = &streams[k];
            if (s->path == NULL || s->out >= 0)
                continue;
            int fd = open_output(s->path, 1);
            if (fd >= 0) {
                s->out = fd;
            } else if (fd == OUTPUT_DISCARD) {
                s->path = NULL;
            } else if (errno == ENXIO) {
                waiting = s->path;
            } else {
                memset(failure, 0, sizeof *failure);
                failure->err = errno;
                if (refusal != NULL)
                    snprintf(failure->message, sizeof failure->message, "%s %s %s", s->name, s->path, refusal);
                else
                    snprintf(failure->message, sizeof failure->message, "open %s %s: %s", s->name, s->path,
                             strerror(errno));
                one_line(failure->message);
                return -1;
            }
        }
        if (waiting == NULL)
            return 0;
        if (!said) {
            putf(2, "mirage-supervisor: waiting for a reader on the FIFO %s\n", waiting);
            said = 1;
        }
        struct pollfd p = {.fd = report, .events = POLLIN};
        if (poll(&p, 1, delay_ms) > 0)
            return 1;
        if (delay_ms < 200)
            delay_ms *= 2;
    }
}

void close_inherited_fds(void)
{
    /* Descriptors leaked by whoever started us must not stay open for the task's lifetime. */
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close((int)fd);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    putf(1, "error usage: %s\n", msg);
    putf(2, "mirage-supervisor: %s\n"
            "usage: mirage-supervisor --run-dir DIR [--stdout PATH] [--stderr PATH]\n"
            "         [--user UID --group GID [--groups G1,G2,...] [--own-uid] [--private-dev PATH]...]\n"
            "         [--cgroup DIR | --cgroup-join DIR]... [--cgroup-write DIR/FILE=VALUE]...\n"
            "         [--oom-score-adj N] [--netns PATH] [--chdir DIR] -- TENDER [ARGS...]\n"
            "       mirage-supervisor --signal SIGNO --pid PID --start-ticks TICKS\n"
            "       mirage-supervisor --watch --pid PID --start-ticks TICKS\n"
            "       mirage-supervisor --serve\n", msg);
    _exit(2);
}

int send_signal(long long signo, long long pid, long long ticks)
{
    char state;
    unsigned long long actual;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    /* Holding a pidfd before checking the start time closes the pid-reuse window. */
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0U);
    if (pidfd < 0 && errno == ESRCH)
        return EXIT_GONE;
    if (read_stat((pid_t)pid, &state, &actual) < 0 || actual != (unsigned long long)ticks || state == 'Z'
        || state == 'X') {
        if (pidfd >= 0)
            close(pidfd);
        return EXIT_GONE;
    }
    if (pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, pidfd, (int)signo, NULL, 0U) == 0)
            return 0;
        int saved = errno;
        close(pidfd);
        if (saved == ESRCH)
            return EXIT_GONE;
        putf(2, "mirage-supervisor: signal %lld to %lld: %s\n", signo, pid, strerror(saved));
        return 1;
    }
#else
    if (read_stat((pid_t)pid, &state, &actual) < 0 || actual != (unsigned long long)ticks || state == 'Z'
        || state == 'X')
        return EXIT_GONE;
#endif
    if (kill((pid_t)pid, (int)signo) == 0)
        return 0;
    if (errno == ESRCH)
        return EXIT_GONE;
    putf(2, "mirage-supervisor: signal %lld to %lld: %s\n", signo, pid, strerror(errno));
    return 1;
}

/*
 * Blocks until the process ends. The plugin runs this as its own child for a
 * supervisor it did not start (after a restart): the JDK can only poll a
 * non-child for its exit, while waiting on this child's exit is immediate.
 */
static int watch(long long pid, long long ticks)
{
    char state;
    unsigned long long actual;
#if defined(SYS_pidfd_open)
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0U);
    if (pidfd < 0)
        return EXIT_GONE;
    if (read_stat((pid_t)pid, &state, &actual) < 0 || actual != (unsigned long long)ticks || state == 'Z'
        || state == 'X')
        return EXIT_GONE;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    return 0;
#else
    while (read_stat((pid_t)pid, &state, &actual) == 0 && actual == (unsigned long long)ticks && state != 'Z'
           && state != 'X')
        usleep(100000);
    return 0;
#endif
}

static void on_forwarded_signal(int sig)
{
    int saved = errno;
    pid_t pid = tender_pid;
    if (pid > 0)
        kill(pid, sig);
    errno = saved;
}

static void child_fail(int fd, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void child_fail(int fd, int err, const char *fmt, ...)
{
    struct child_failure f;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    memset(&f, 0, sizeof f);
    f.err = err;
    snprintf(f.message, sizeof f.message, "%s: %s", what, strerror(err));
    one_line(f.message);
    ssize_t n;
    do
        n = write(fd, &f, sizeof f);
    while (n < 0 && errno == EINTR);
    _exit(127);
}

static void redirect(int report, int target, const char *path, int flags, const char *what)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        child_fail(report, errno, "open %s %s", what, path);
    if (dup2(fd, target) < 0)
        child_fail(report, errno, "dup2 %s", what);
    if (fd != target)
        close(fd);
}

/* Writes VALUE into a cgroup (or /proc) file as a whole; never through a symlink. */
static void write_control(int report, const char *path, const char *value)
{
    int fd;
    do
        fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        child_fail(report, errno, "open %s", path);
    size_t len = strlen(value);
    ssize_t n;
    do
        n = write(fd, value, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        child_fail(report, n < 0 ? errno : EIO, "writing %s to %s", value, path);
    close(fd);
}

/* Creates and limits this task's cgroups, then joins them and Nomad's: before anything else runs here. */
static void enter_cgroups(int report, const struct options *o)
{
    char path[PATH_MAX];
    for (size_t k = 0; k < o->ncgroups; k++)
        if (o->cgroup_created[k] && mkdir(o->cgroups[k], 0755) < 0 && errno != EEXIST)
            child_fail(report, errno, "creating cgroup %s", o->cgroups[k]);
    for (size_t w = 0; w < o->ncgroup_writes; w++) {
        const struct cgroup_write *cw = &o->cgroup_writes[w];
        if (snprintf(path, sizeof path, "%s/%s", cw->dir, cw->file) >= (int)sizeof path)
            child_fail(report, ENAMETOOLONG, "%s/%s", cw->dir, cw->file);
        write_control(report, path, cw->value);
    }
    for (size_t k = 0; k < o->ncgroups; k++) {
        /*
         * On v1 this single-threaded child moves its one thread through "tasks": a write to
         * cgroup.procs takes the global threadgroup lock for writing, which waits for an RCU grace
         * period (several ms per hierarchy on every start); the tender's threads are created later and
         * follow it. v2 has no "tasks" file, and one hierarchy.
         */
        if (snprintf(path, sizeof path, "%s/tasks", o->cgroups[k]) >= (int)sizeof path)
            child_fail(report, ENAMETOOLONG, "%s/tasks", o->cgroups[k]);
        if (access(path, F_OK) < 0
            && snprintf(path, sizeof path, "%s/cgroup.procs", o->cgroups[k]) >= (int)sizeof path)
            child_fail(report, ENAMETOOLONG, "%s/cgroup.procs", o->cgroups[k]);
        write_control(report, path, "0"); /* 0: the writing thread (process) itself */
    }
}

/* Whether PID is listed in DIR/cgroup.procs right now. */
static int in_cgroup(const char *dir, pid_t pid)
{
    char path[PATH_MAX], buf[8192];
    if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (atol(line) == (long)pid)
            return 1;
    return 0;
}

/*
 * Ends what the tender left in its cgroup (a task sharing a user has no --own-uid to do it), so the
 * cgroup can go. Each pid is pinned with a pidfd and checked to be a member again before the kill:
 * a pid reused by a process outside the cgroup is never signalled.
 */
static void kill_cgroup_members(const char *dir)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    char path[PATH_MAX], buf[8192];
    if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path)
        return;
    for (int round = 0; round < 10; round++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            return;
        buf[n] = '\0';
        int killed = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            pid_t pid = (pid_t)atol(line);
            int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0U) : -1;
            if (pidfd < 0)
                continue;
            if (in_cgroup(dir, pid) && syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0U) == 0)
                killed++;
            close(pidfd);
        }
        if (killed == 0)
            return;
        putf(2, "mirage-supervisor: ended %d process(es) the tender left in %s\n", killed, dir);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL); /* they exit asynchronously; the next round sees what is left */
    }
#else
    (void)dir;
#endif
}

/* Removes the cgroups this program created; the tender and what its uid left are gone by now. */
static void remove_cgroups(const struct options *o)
{
    for (size_t k = 0; k < o->ncgroups; k++)
        if (o->cgroup_created[k]) {
            kill_cgroup_members(o->cgroups[k]);
            break; /* every process of the task is in each of its cgroups */
        }
    for (size_t k = o->ncgroups; k-- > 0;) {
        if (!o->cgroup_created[k])
            continue;
        /* The kernel may count a just-reaped process a little longer. */
        int tries = 0;
        while (rmdir(o->cgroups[k]) < 0) {
            if (errno == ENOENT)
                break;
            if (errno != EBUSY || ++tries == 100) {
                putf(2, "mirage-supervisor: removing cgroup %s: %s\n", o->cgroups[k], strerror(errno));
                break;
            }
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
}

static void private_devices(int report, const struct options *o)
{
    if (unshare(CLONE_NEWNS) < 0)
        child_fail(report, errno, "unshare(CLONE_NEWNS) for private device nodes");
    /* Nothing mounted here may reach the host's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail(report, errno, "making the tender's mounts private");
    /* Over the run directory itself, in this namespace only: nothing to create on the host's disk. */
    const char *dir = o->run_dir;
    if (mount("mirage-devices", dir, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0700,size=4k,nr_inodes=8") < 0)
        child_fail(report, errno, "mounting a tmpfs for private device nodes on %s", dir);
    for (size_t k = 0; k < o->nprivate_devs; k++) {
        const char *target = o->private_devs[k];
        struct stat st;
        if (stat(target, &st) < 0)
            child_fail(report, errno, "%s on the host", target);
        if (!S_ISCHR(st.st_mode))
            child_fail(report, ENODEV, "%s on the host is not a character device", target);
        char node[PATH_MAX + 24];
        snprintf(node, sizeof node, "%s/%zu", dir, k);
        if (mknod(node, S_IFCHR | 0600, st.st_rdev) < 0)
            child_fail(report, errno, "creating a private node for %s", target);
        if (chown(node, (uid_t)o->uid, (gid_t)o->gid) < 0)
            child_fail(report, errno, "handing the private %s to uid %ld", target, o->uid);
        if (mount(node, target, NULL, MS_BIND, NULL) < 0)
            child_fail(report, errno, "mounting the private node over %s", target);
    }
}

/* What a file is, for a refusal: "a regular file", "a directory"... */
static const char *file_kind(mode_t mode)
{
    return S_ISREG(mode) ? "a regular file" : S_ISDIR(mode) ? "a directory" : S_ISLNK(mode) ? "a symbolic link"
        : S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : S_ISCHR(mode) ? "a character device"
        : S_ISBLK(mode) ? "a block device" : "a file of unknown type";
}

/*
 * Joins the network namespace o->netns (this process only; the supervisor stays in its own).
 * What is checked is what gets joined: an O_PATH descriptor of the path itself (a symlink is not
 * followed, and nothing else, such as a FIFO or a device, is ever opened for reading) must be on
 * nsfs; only then is it reopened through /proc/self/fd for setns.
 */
static void join_netns(int report, const struct options *o)
{
    const char *path = o->netns;
    int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        child_fail(report, errno, "network namespace %s", path);
    struct stat st;
    struct statfs fs;
    if (fstat(pfd, &st) < 0)
        child_fail(report, errno, "network namespace %s: fstat", path);
    if (S_ISLNK(st.st_mode))
        child_fail(report, ELOOP, "network namespace %s is a symbolic link, which is not followed", path);
    if (fstatfs(pfd, &fs) < 0)
        child_fail(report, errno, "network namespace %s: fstatfs", path);
    if ((unsigned long)fs.f_type != (unsigned long)NSFS_MAGIC)
        child_fail(report, EINVAL, "%s is not a network namespace: %s on a filesystem of type 0x%lx, not nsfs",
                   path, file_kind(st.st_mode), (unsigned long)fs.f_type);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    int fd = open(proc, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        child_fail(report, errno, "opening the network namespace %s", path);
    close(pfd);
    if (setns(fd, CLONE_NEWNET) < 0) {
        if (errno == EINVAL)
            child_fail(report, EINVAL, "%s is not a network namespace: a namespace of another kind", path);
        child_fail(report, errno, "joining the network namespace %s", path);
    }
    close(fd);
}

static void run_child(const struct options *o, int report, int go, int out, int err)
{
    /* First, so that a TERM forwarded while the supervisor waits for a FIFO reader ends this child. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* stdout and stderr are pipes to the supervisor, which copies them to the output paths. */
    redirect(report, 0, "/dev/null", O_RDONLY, "stdin");
    if (dup2(out, 1) < 0)
        child_fail(report, errno, "dup2 stdout");
    if (dup2(err, 2) < 0)
        child_fail(report, errno, "dup2 stderr");

    if (o->netns != NULL)
        join_netns(report, o);
    if (o->ncgroups > 0)
        enter_cgroups(report, o);
    if (o->set_oom_score_adj) {
        char adj[32];
        snprintf(adj, sizeof adj, "%ld", o->oom_score_adj);
        write_control(report, "/proc/self/oom_score_adj", adj);
    }
    if (o->nprivate_devs > 0)
        private_devices(report, o);
    if (o->uid >= 0) {
        if (setgroups(o->ngroups, o->group_list) < 0)
            child_fail(report, errno, "setgroups");
        if (setgid((gid_t)o->gid) < 0)
            child_fail(report, errno, "setgid %ld", o->gid);
        if (setuid((uid_t)o->uid) < 0)
            child_fail(report, errno, "setuid %ld", o->uid);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        child_fail(report, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        child_fail(report, errno, "setrlimit(RLIMIT_CORE)");
    if (o->chdir_to != NULL && chdir(o->chdir_to) < 0)
        child_fail(report, errno, "chdir %s", o->chdir_to);

    /* The tender starts once the supervisor holds the output paths (a FIFO: once it has a reader). */
    char c;
    ssize_t n;
    do
        n = read(go, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(127); /* the supervisor is gone: never run unsupervised */
    execve(o->argv[0], o->argv, environ);
    child_fail(report, errno, "execve %s", o->argv[0]);
}

static void parse_options(int argc, char **argv, struct options *o, long long signal_args[3])
{
    memset(o, 0, sizeof *o);
    o->uid = o->gid = -1;
    signal_args[0] = signal_args[1] = signal_args[2] = -1;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--own-uid") == 0) {
            o->own_uid = 1;
            continue;
        }
        if (strcmp(a, "--watch") == 0) {
            signal_args[0] = 0; /* watch mode: wait for the process instead of signalling it */
            continue;
        }
        if (i + 1 >= argc)
            usage_error("%s needs a value", a);
        const char *v = argv[++i];
        long long n;
        if (strcmp(a, "--run-dir") == 0)
            o->run_dir = v;
        else if (strcmp(a, "--stdout") == 0)
            o->out = v;
        else if (strcmp(a, "--stderr") == 0)
            o->err = v;
        else if (strcmp(a, "--chdir") == 0)
            o->chdir_to = v;
        else if (strcmp(a, "--groups") == 0)
            o->groups = v;
        else if (strcmp(a, "--netns") == 0) {
            if (v[0] != '/' || strstr(v, "/../") != NULL || strstr(v, "/./") != NULL)
                usage_error("--netns %s: not an absolute, normal path", v);
            if (strlen(v) > NETNS_PATH_MAX)
                usage_error("--netns: a path of at most %d bytes", NETNS_PATH_MAX);
            if (o->netns != NULL)
                usage_error("--netns given twice");
            o->netns = v;
        }
        else if (strcmp(a, "--cgroup") == 0 || strcmp(a, "--cgroup-join") == 0) {
            if (v[0] != '/' || strstr(v, "/../") != NULL || strstr(v, "/./") != NULL)
                usage_error("%s %s: not an absolute, normal path", a, v);
            if (o->ncgroups == MAX_CGROUPS)
                usage_error("%s given too often", a);
            o->cgroup_created[o->ncgroups] = strcmp(a, "--cgroup") == 0;
            o->cgroups[o->ncgroups++] = v;
        } else if (strcmp(a, "--cgroup-write") == 0) {
            /* DIR/FILE=VALUE; DIR must be a --cgroup given before it, FILE a plain name. */
            const char *eq = strchr(v, '=');
            const char *slash = eq == NULL ? NULL : memrchr(v, '/', (size_t)(eq - v));
            if (eq == NULL || slash == NULL || slash + 1 == eq || eq[1] == '\0')
                usage_error("--cgroup-write %s: expected DIR/FILE=VALUE", v);
            const char *dir = NULL;
            for (size_t k = 0; k < o->ncgroups; k++)
                if (o->cgroup_created[k] && strlen(o->cgroups[k]) == (size_t)(slash - v)
                    && strncmp(o->cgroups[k], v, (size_t)(slash - v)) == 0)
                    dir = o->cgroups[k];
            if (dir == NULL)
                usage_error("--cgroup-write %s: not in a --cgroup given before it", v);
            if (o->ncgroup_writes == MAX_CGROUP_WRITES)
                usage_error("--cgroup-write given too often");
            char *file = strndup(slash + 1, (size_t)(eq - slash - 1));
            if (file == NULL)
                usage_error("out of memory");
            if (file[0] == '.' || strchr(file, '/') != NULL)
                usage_error("--cgroup-write %s: not a cgroup file name", v);
            o->cgroup_writes[o->ncgroup_writes++] = (struct cgroup_write){dir, file, eq + 1};
        } else if (strcmp(a, "--oom-score-adj") == 0) {
            if (parse_long(v, -1000, 1000, &n) < 0)
                usage_error("--oom-score-adj %s: not a number from -1000 to 1000", v);
            o->oom_score_adj = (long)n;
            o->set_oom_score_adj = 1;
        } else if (strcmp(a, "--private-dev") == 0) {
            if (strcmp(v, "/dev/net/tun") != 0 && strcmp(v, "/dev/kvm") != 0)
                usage_error("--private-dev %s: only /dev/net/tun and /dev/kvm", v);
            if (o->nprivate_devs == sizeof o->private_devs / sizeof o->private_devs[0])
                usage_error("--private-dev given too often");
            o->private_devs[o->nprivate_devs++] = v;
        }
        else if (strcmp(a, "--user") == 0 || strcmp(a, "--group") == 0) {
            if (parse_long(v, 0, UINT32_MAX - 1LL, &n) < 0)
                usage_error("%s %s: not a numeric id", a, v);
            *(strcmp(a, "--user") == 0 ? &o->uid : &o->gid) = (long)n;
        } else if (strcmp(a, "--signal") == 0 || strcmp(a, "--pid") == 0 || strcmp(a, "--start-ticks") == 0) {
            if (parse_long(v, 1, LLONG_MAX, &n) < 0)
                usage_error("%s %s: not a positive number", a, v);
            signal_args[strcmp(a, "--signal") == 0 ? 0 : strcmp(a, "--pid") == 0 ? 1 : 2] = n;
        } else
            usage_error("unknown option %s", a);
    }
    if (signal_args[0] >= 0 || signal_args[1] >= 0 || signal_args[2] >= 0) {
        if (signal_args[0] < 0 || signal_args[1] < 0 || signal_args[2] < 0 || i < argc)
            usage_error("--signal/--watch need --pid and --start-ticks and nothing else");
        if (signal_args[0] >= NSIG || signal_args[1] > INT_MAX)
            usage_error("signal or pid out of range");
        return;
    }
    if (o->run_dir == NULL)
        usage_error("--run-dir is required");
    if (i >= argc)
        usage_error("no tender command after --");
    if ((o->uid >= 0) != (o->gid >= 0))
        usage_error("--user and --group go together");
    if (o->groups != NULL && o->uid < 0)
        usage_error("--groups needs --user");
    if ((o->own_uid || o->nprivate_devs > 0) && o->uid <= 0)
        usage_error("--own-uid and --private-dev need a --user other than root");
    if (o->groups != NULL && *o->groups != '\0') {
        size_t cap = 1;
        for (const char *c = o->groups; *c; c++)
            cap += *c == ',';
        o->group_list = calloc(cap, sizeof *o->group_list);
        char *copy = strdup(o->groups), *save = NULL;
        if (o->group_list == NULL || copy == NULL)
            usage_error("out of memory");
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            long long g;
            if (parse_long(tok, 0, UINT32_MAX - 1LL, &g) < 0)
                usage_error("--groups %s: not a list of numeric ids", o->groups);
            o->group_list[o->ngroups++] = (gid_t)g;
        }
        free(copy);
    }
    o->argv = &argv[i];
}

static void fatal(const char *what) __attribute__((noreturn));
static void fatal(const char *what)
{
    char msg[PATH_MAX + 128];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    one_line(msg);
    putf(1, "error %s\n", msg);
    putf(2, "mirage-supervisor: %s\n", msg);
    _exit(1);
}

/* After the report line: stdout and stderr go to DIR/supervisor.log, created at the first message. */
static void log_to_run_dir(const char *run_dir)
{
    log_dir = run_dir;
    stdout_to_log = 1;
    if (log_fd >= 0) {
        dup2(log_fd, 1);
        return;
    }
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

/*
 * Ends whatever the tender left running under its uid (see --own-uid). kill(-1) never signals the
 * caller; as UID it reaches exactly the processes whose real or saved uid is UID.
 */
static void reap_uid(const struct options *o)
{
    pid_t pid = fork();
    if (pid < 0) {
        putf(2, "mirage-supervisor: fork to end uid %ld's processes: %s\n", o->uid, strerror(errno));
        return;
    }
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid((gid_t)o->gid) < 0 || setuid((uid_t)o->uid) < 0)
            _exit(1);
        _exit(kill(-1, SIGKILL) < 0 && errno != ESRCH ? 1 : 0);
    }
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        putf(2, "mirage-supervisor: could not end the processes uid %ld left\n", o->uid);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--serve") == 0)
        return serve();
    return supervise(argc, argv);
}

int supervise(int argc, char **argv)
{
    struct options o;
    long long signal_args[3];
    parse_options(argc, argv, &o, signal_args);
    if (signal_args[0] > 0)
        return send_signal(signal_args[0], signal_args[1], signal_args[2]);
    if (signal_args[0] == 0)
        return watch(signal_args[1], signal_args[2]);

    close_inherited_fds();
    log_dir = o.run_dir; /* stderr goes to its log from the first message on */
    if (setsid() < 0)
        fatal("setsid (is it a process group leader? start it from a non-interactive parent)");
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL); /* SIG_IGN inherited here would make the kernel reap the tender */

    struct stat st;
    if (stat(o.run_dir, &st) < 0)
        fatal(o.run_dir);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        fatal(o.run_dir);
    }

    char content[256];
    char state;
    unsigned long long ticks;
    if (read_stat(getpid(), &state, &ticks) < 0)
        fatal("/proc/self/stat");
    snprintf(content, sizeof content, "pid=%d\nstart_ticks=%llu\n", (int)getpid(), ticks);
    if (write_atomic(o.run_dir, "supervisor", content) < 0)
        fatal("writing supervisor file in run dir");

    sigset_t fwd, old;
    sigemptyset(&fwd);
    for (int k = 0; k < NFORWARDED; k++)
        sigaddset(&fwd, forwarded[k]);
    sigprocmask(SIG_BLOCK, &fwd, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_forwarded_signal;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int k = 0; k < NFORWARDED; k++)
        sigaction(forwarded[k], &sa, NULL);

    int report[2], go[2], out[2], err[2];
    if (pipe2(report, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0
        || pipe2(err, O_CLOEXEC) < 0)
        fatal("pipe2");
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork");
    if (pid == 0) {
        close(report[0]);
        close(go[1]);
        close(out[0]);
        close(err[0]);
        run_child(&o, report[1], go[0], out[1], err[1]);
    }
    tender_pid = pid;
    close(report[1]);
    close(go[0]);
    close(out[1]);
    close(err[1]);
    /* Forwarding starts now: a TERM while waiting for a FIFO reader must reach the child. */
    sigprocmask(SIG_SETMASK, &old, NULL);

    streams[0] = (struct stream){.name = "stdout", .path = o.out, .in = out[0], .out = -1};
    streams[1] = (struct stream){.name = "stderr", .path = o.err, .in = err[0], .out = -1};
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);

    struct child_failure failure;
    size_t got = 0;
    if (open_outputs(report[0], &failure) < 0) {
        kill(pid, SIGKILL); /* it waits for the go byte: it never ran the tender */
        got = sizeof failure;
    } else {
        ssize_t n;
        do
            n = write(go[1], "g", 1); /* EPIPE (ignored) if the child ended meanwhile */
        while (n < 0 && errno == EINTR);
        while (got < sizeof failure) {
            n = read(report[0], (char *)&failure + got, sizeof failure - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(go[1]);
    close(report[0]);

    if (got > 0) {
        int wstatus;
        sigprocmask(SIG_BLOCK, &fwd, NULL);
        tender_pid = 0;
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
        remove_cgroups(&o);
        if (got < sizeof failure) {
            failure.err = EIO;
            snprintf(failure.message, sizeof failure.message, "truncated failure report from the child");
        }
        failure.message[sizeof failure.message - 1] = '\0';
        putf(1, "exec-failed %d %s\n", failure.err, failure.message);
        char status[512];
        snprintf(status, sizeof status, "exit_code=127\nsignal=0\ncore_dumped=0\nexited_at_ns=%llu\nerrno=%d\nfailure=%s\n",
                 now_ns(), failure.err, failure.message);
        log_to_run_dir(o.run_dir);
        if (write_atomic(o.run_dir, "status", status) < 0)
            putf(2, "mirage-supervisor: writing status: %s\n", strerror(errno));
        return 127;
    }

    /* The tender exists (unreaped even if it already ended), so its stat is readable. */
    if (read_stat(pid, &state, &ticks) < 0) {
        kill(pid, SIGKILL);
        fatal("reading the tender's /proc stat");
    }
    snprintf(content, sizeof content, "pid=%d\nstart_ticks=%llu\n", (int)pid, ticks);
    if (write_atomic(o.run_dir, "tender", content) < 0) {
        int saved = errno;
        kill(pid, SIGKILL); /* an unrecorded tender could never be re-attached */
        errno = saved;
        fatal("writing tender file in run dir");
    }
    putf(1, "started %d %llu\n", (int)pid, ticks);
    log_to_run_dir(o.run_dir);

    int pidfd = -1;
#ifdef SYS_pidfd_open
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0U); /* the unreaped tender: its pid cannot be reused */
#endif
    copy_until_exit(pid, pidfd);
    /* Stop forwarding before reaping: after that the pid may belong to someone else. */
    sigprocmask(SIG_BLOCK, &fwd, NULL);
    tender_pid = 0;
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            putf(2, "mirage-supervisor: waitpid %d: %s\n", (int)pid, strerror(errno));
            return 1;
        }
    }

    if (o.own_uid)
        reap_uid(&o);
    remove_cgroups(&o);
    drain();
    char text[TAIL_BYTES + 1];
    tail_text(text);
    if (write_atomic(o.run_dir, "console.tail", text) < 0)
        putf(2, "mirage-supervisor: writing console.tail: %s\n", strerror(errno));

    int exit_code, sig = 0, core = 0;
    if (WIFSIGNALED(wstatus)) {
        sig = WTERMSIG(wstatus);
        exit_code = 128 + sig;
        core = WCOREDUMP(wstatus) ? 1 : 0;
    } else {
        exit_code = WEXITSTATUS(wstatus);
    }
    char status[256];
    snprintf(status, sizeof status, "exit_code=%d\nsignal=%d\ncore_dumped=%d\nexited_at_ns=%llu\n",
             exit_code, sig, core, now_ns());
    if (write_atomic(o.run_dir, "status", status) < 0) {
        putf(2, "mirage-supervisor: writing status: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
