/* Shared by the parts of mirage-supervisor (see mirage-supervisor.c for the command line). */
#ifndef MIRAGE_SUPERVISOR_H
#define MIRAGE_SUPERVISOR_H

#include <stddef.h>
#include <sys/types.h>

#define EXIT_GONE 3

void put(int fd, const char *s);
void putf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void one_line(char *s);
int parse_long(const char *s, long min, long long max, long long *out);
int read_stat(pid_t pid, char *state, unsigned long long *start_ticks);
/* The text of /proc/PID/stat from field 3 (the state) on, read into BUF; NULL (errno set) when unreadable. */
char *stat_fields(pid_t pid, char *buf, size_t size);
int write_atomic(const char *dir, const char *name, const char *content);
void close_inherited_fds(void);
/* 0: sent; EXIT_GONE: that process is gone; 1: error (told on stderr). */
int send_signal(long long signo, long long pid, long long ticks);

/* One supervised tender (the classic command line); returns the exit code. */
int supervise(int argc, char **argv);
/* The launch service the plugin keeps (mirage-supervisor --serve). */
int serve(void);
/* A persistent tap owned by uid/gid (-1: root's), up, on the bridge in hairpin mode; 0 or -1 with why. */
int tap_create(const char *name, const char *bridge, long mtu, long uid, long gid, char *why, size_t whylen);

/* Pins TAP to MAC and IP in the bridge nomad_mirage sets, in one nf_tables batch; 0 or -1 with why. */
int pin_add(const char *tap, const char *mac, const char *ip, char *why, size_t whylen);

/* A port forward in the ip nomad_mirage maps (host_ip "0.0.0.0": every local address); 0 or -1 with why. */
int fwd_add(const char *host_ip, const char *proto, long host_port, const char *guest_ip, long guest_port,
            char *why, size_t whylen);

#endif
