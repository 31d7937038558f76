/*
 * mirage-supervisor: keeps one tender process (solo5-hvt, solo5-spt, qemu...)
 * supervised independently of the plugin JVM. It runs in its own session, so
 * the plugin dying, restarting or having its process group signalled does not
 * touch it; it records the tender's identity and exit status in a run
 * directory that a restarted plugin reads to re-attach.
 *
 *   mirage-supervisor --run-dir DIR [--stdout PATH] [--stderr PATH]
 *       [--user UID --group GID [--groups G1,G2,...]] [--chdir DIR] -- TENDER [ARGS...]
 *
 * The tender gets exactly the environment this program received. Files kept
 * in DIR, each written atomically (tmp, fsync, rename, fsync dir), in
 * "key=value" lines:
 *   supervisor  pid, start_ticks of this process (written before the fork)
 *   tender      pid, start_ticks of the tender (written once exec succeeded)
 *   status      exit_code, signal, core_dumped, exited_at_ns [, errno, failure]
 * The first line on stdout is "started PID STARTTICKS" or
 * "exec-failed ERRNO MESSAGE" or "error MESSAGE"; stdout and stderr then go to
 * DIR/supervisor.log so that no pipe to the launching process is kept open.
 *
 *   mirage-supervisor --signal SIGNO --pid PID --start-ticks TICKS
 *
 * sends a signal only if PID still is the process that started at TICKS
 * (through a pidfd, so a reused pid is never signalled). Exit 0: sent;
 * 3: that process is gone; 1: error; 2: usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_GONE 3

extern char **environ;

static const int forwarded[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED ((int)(sizeof forwarded / sizeof forwarded[0]))

/* Set while the tender is unreaped, so a forwarded signal can never hit a reused pid. */
static volatile sig_atomic_t tender_pid;

struct options {
    const char *run_dir, *out, *err, *chdir_to, *groups;
    long uid, gid;
    gid_t *group_list;
    size_t ngroups;
    char **argv;
};

struct child_failure {
    int err;
    char message[256];
};

static void put(int fd, const char *s)
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

static void putf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(fd, buf);
}

/* Status lines and the first stdout line are line-based: keep messages on one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = '?';
}

static int parse_long(const char *s, long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* State (field 3) and start time (field 22) from /proc/PID/stat; comm may hold ')' and spaces. */
static int read_stat(pid_t pid, char *state, unsigned long long *start_ticks)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : ESRCH;
        return -1;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return errno = EINVAL, -1;
    p += 2;
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

static int write_atomic(const char *dir, const char *name, const char *content)
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
    if (fsync(fd) < 0 || close(fd) < 0) {
        int saved = errno;
        unlink(tmp);
        return errno = saved, -1;
    }
    if (rename(tmp, dst) < 0)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void close_inherited_fds(void)
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
            "         [--user UID --group GID [--groups G1,G2,...]] [--chdir DIR] -- TENDER [ARGS...]\n"
            "       mirage-supervisor --signal SIGNO --pid PID --start-ticks TICKS\n"
            "       mirage-supervisor --watch --pid PID --start-ticks TICKS\n", msg);
    _exit(2);
}

static int send_signal(long long signo, long long pid, long long ticks)
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

/* Flags to open a console output: a log file is created if missing, but a
 * missing /dev/null must never be created as a regular file. */
static int output_flags(const char *path)
{
    if (path == NULL || strcmp(path, "/dev/null") == 0)
        return O_WRONLY;
    return O_WRONLY | O_CREAT | O_APPEND;
}

static void run_child(const struct options *o, int report)
{
    /* First, so that a TERM forwarded while a FIFO open blocks ends this child. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Opened before dropping privileges: the log FIFOs usually belong to root. */
    redirect(report, 0, "/dev/null", O_RDONLY, "stdin");
    redirect(report, 1, o->out ? o->out : "/dev/null", output_flags(o->out), "stdout");
    redirect(report, 2, o->err ? o->err : "/dev/null", output_flags(o->err), "stderr");

    if (o->uid >= 0) {
        if (setgroups(o->ngroups, o->group_list) < 0)
            child_fail(report, errno, "setgroups");
        if (setgid((gid_t)o->gid) < 0)
            child_fail(report, errno, "setgid %ld", o->gid);
        if (setuid((uid_t)o->uid) < 0)
            child_fail(report, errno, "setuid %ld", o->uid);
    }
    if (o->chdir_to != NULL && chdir(o->chdir_to) < 0)
        child_fail(report, errno, "chdir %s", o->chdir_to);

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

static void log_to_run_dir(const char *run_dir)
{
    char path[PATH_MAX];
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/supervisor.log", run_dir) < (int)sizeof path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    long long signal_args[3];
    parse_options(argc, argv, &o, signal_args);
    if (signal_args[0] > 0)
        return send_signal(signal_args[0], signal_args[1], signal_args[2]);
    if (signal_args[0] == 0)
        return watch(signal_args[1], signal_args[2]);

    close_inherited_fds();
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

    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        fatal("pipe2");
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork");
    if (pid == 0) {
        close(report[0]);
        run_child(&o, report[1]);
    }
    tender_pid = pid;
    close(report[1]);
    /* Forwarding starts now: a TERM while the child blocks opening a FIFO must reach it. */
    sigprocmask(SIG_SETMASK, &old, NULL);

    struct child_failure failure;
    size_t got = 0;
    while (got < sizeof failure) {
        ssize_t n = read(report[0], (char *)&failure + got, sizeof failure - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(report[0]);

    if (got > 0) {
        int wstatus;
        sigprocmask(SIG_BLOCK, &fwd, NULL);
        tender_pid = 0;
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
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

    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0)
            break;
        if (errno != EINTR) {
            putf(2, "mirage-supervisor: waitid %d: %s\n", (int)pid, strerror(errno));
            return 1;
        }
    }
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
