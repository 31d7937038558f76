/*
 * Taps made with ioctls and rtnetlink, in the network namespace of the caller:
 * what `ip tuntap add ... user U group G` followed by `ip link set ... mtu M
 * master BRIDGE up` and `ip link set ... type bridge_slave hairpin on` do, in
 * a fraction of a millisecond and without a program to run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "supervisor.h"

struct nl_request {
    struct nlmsghdr head;
    struct ifinfomsg info;
    char attrs[256];
};

static void attr(struct nl_request *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->head.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->head.nlmsg_len = NLMSG_ALIGN(r->head.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Opens a nested attribute; nest_end closes it once its members are added. */
static struct rtattr *nest_start(struct nl_request *r, unsigned short type)
{
    struct rtattr *nest = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->head.nlmsg_len));
    nest->rta_type = type;
    r->head.nlmsg_len = NLMSG_ALIGN(r->head.nlmsg_len) + RTA_LENGTH(0);
    return nest;
}

static void nest_end(struct nl_request *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)r + r->head.nlmsg_len - (char *)nest);
}

static void init(struct nl_request *r, unsigned short type, unsigned char family, int index)
{
    memset(r, 0, sizeof *r);
    r->head.nlmsg_len = NLMSG_LENGTH(sizeof r->info);
    r->head.nlmsg_type = type;
    r->head.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    r->head.nlmsg_seq = 1;
    r->info.ifi_family = family;
    r->info.ifi_index = index;
}

/* Sends one request and returns 0 or -1 with errno from the kernel's answer. */
static int talk(struct nl_request *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, r, r->head.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int saved = errno;
        close(fd);
        return errno = saved, -1;
    }
    char buf[4096];
    ssize_t n;
    do
        n = recv(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0)
        return errno = saved, -1;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (unsigned)n) || h->nlmsg_type != NLMSG_ERROR)
        return errno = EPROTO, -1;
    int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    return err == 0 ? 0 : (errno = -err, -1);
}

static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    int saved = errno;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(why, whylen, "%s: %s", what, strerror(saved));
    return errno = saved, -1;
}

static void remove_tap(const char *name)
{
    int index = (int)if_nametoindex(name);
    if (index > 0) {
        struct nl_request r;
        init(&r, RTM_DELLINK, AF_UNSPEC, index);
        talk(&r);
    }
}

int tap_create(const char *name, const char *bridge, long mtu, long uid, long gid, char *why, size_t whylen)
{
    if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ || strchr(name, '/') != NULL)
        return errno = EINVAL, fail(why, whylen, "tap name \"%s\"", name);
    if (if_nametoindex(name) != 0)
        return errno = EEXIST, fail(why, whylen, "a link named %s already exists", name);
    int bridge_index = (int)if_nametoindex(bridge);
    if (bridge_index == 0)
        return fail(why, whylen, "bridge %s", bridge);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fail(why, whylen, "open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fail(why, whylen, "creating tap %s (TUNSETIFF)", name);
        close(fd);
        return -1;
    }
    /* From here on a failure removes the tap again (it dies with fd until it is persistent). */
    if ((uid >= 0 && ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0)
        || (gid >= 0 && ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)) {
        fail(why, whylen, "handing tap %s to uid %ld gid %ld", name, uid, gid);
        close(fd);
        return -1;
    }
    if (ioctl(fd, TUNSETPERSIST, 1UL) < 0) {
        fail(why, whylen, "making tap %s persistent", name);
        close(fd);
        return -1;
    }
    close(fd);
    int index = (int)if_nametoindex(name);
    if (index == 0) {
        fail(why, whylen, "tap %s vanished after its creation", name);
        remove_tap(name);
        return -1;
    }
    struct nl_request r;
    init(&r, RTM_NEWLINK, AF_UNSPEC, index);
    unsigned int value = (unsigned int)mtu;
    attr(&r, IFLA_MTU, &value, sizeof value);
    value = (unsigned int)bridge_index;
    attr(&r, IFLA_MASTER, &value, sizeof value);
    if (talk(&r) < 0) {
        fail(why, whylen, "putting tap %s on bridge %s with mtu %ld", name, bridge, mtu);
        remove_tap(name);
        return -1;
    }
    /*
     * Hairpin: with br_netfilter loaded, a guest's connection to its own forwarded port is DNATed in
     * the bridge and must leave through the port it came in on.
     */
    init(&r, RTM_SETLINK, AF_BRIDGE, index);
    struct rtattr *protinfo = nest_start(&r, IFLA_PROTINFO | NLA_F_NESTED);
    unsigned char on = 1;
    attr(&r, IFLA_BRPORT_MODE, &on, sizeof on);
    nest_end(&r, protinfo);
    if (talk(&r) < 0) {
        fail(why, whylen, "hairpin mode on tap %s", name);
        remove_tap(name);
        return -1;
    }
    /*
     * No IPv6 address of the host's on the tap (the guest's link to the host is IPv4): a link-local
     * address per tap adds routes that every later tap's coming up walks, so each start got slower the
     * more taps there were. A host without IPv6 refuses the attribute, and there is nothing to avoid.
     */
    init(&r, RTM_NEWLINK, AF_UNSPEC, index);
    struct rtattr *spec = nest_start(&r, IFLA_AF_SPEC);
    struct rtattr *inet6 = nest_start(&r, AF_INET6);
    unsigned char mode = IN6_ADDR_GEN_MODE_NONE;
    attr(&r, IFLA_INET6_ADDR_GEN_MODE, &mode, sizeof mode);
    nest_end(&r, inet6);
    nest_end(&r, spec);
    (void)talk(&r);
    init(&r, RTM_NEWLINK, AF_UNSPEC, index);
    r.info.ifi_flags = IFF_UP;
    r.info.ifi_change = IFF_UP;
    if (talk(&r) < 0) {
        fail(why, whylen, "setting tap %s up", name);
        remove_tap(name);
        return -1;
    }
    return 0;
}
