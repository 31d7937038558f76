/*
 * Guest pins in the plugin's nftables table (bridge nomad_mirage, made by the
 * plugin with nft): what `nft add element bridge nomad_mirage taps { TAP }`
 * and the same for ip_pins (TAP . MAC . IP) and arp_pins (TAP . MAC . MAC .
 * IP) do, as one nf_tables batch over netlink, without a program to run.
 * A key of a concatenation holds each field padded to 4 bytes: ifname 16,
 * ether_addr 6 (+2), ipv4_addr 4, in network order.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "supervisor.h"

#define TABLE "nomad_mirage"

struct batch {
    size_t len;
    uint32_t seq;
    char buf[2048];
};

static struct nlmsghdr *message(struct batch *b, uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id)
{
    struct nlmsghdr *h = (struct nlmsghdr *)(b->buf + b->len);
    memset(h, 0, NLMSG_LENGTH(sizeof(struct nfgenmsg)));
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = ++b->seq;
    struct nfgenmsg *g = NLMSG_DATA(h);
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = htons(res_id);
    return h;
}

static struct nlattr *open_attr(struct nlmsghdr *h, uint16_t type)
{
    struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    a->nla_type = type;
    a->nla_len = NLA_HDRLEN;
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_HDRLEN;
    return a;
}

static void close_attr(struct nlmsghdr *h, struct nlattr *a)
{
    a->nla_len = (uint16_t)((char *)h + h->nlmsg_len - (char *)a);
}

static void put_attr(struct nlmsghdr *h, uint16_t type, const void *data, size_t len)
{
    struct nlattr *a = open_attr(h, type);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    h->nlmsg_len += (uint32_t)len;
    close_attr(h, a);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len);
}

/* One set element (data NULL) or map element of FAMILY's table TABLE. */
static void map_element(struct batch *b, int type, uint8_t family, const char *set, const void *key, size_t keylen,
                        const void *data, size_t datalen)
{
    struct nlmsghdr *h = message(b, (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type),
                                 (uint16_t)(NLM_F_ACK | (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0)),
                                 family, 0);
    put_attr(h, NFTA_SET_ELEM_LIST_TABLE, TABLE, sizeof TABLE);
    put_attr(h, NFTA_SET_ELEM_LIST_SET, set, strlen(set) + 1);
    struct nlattr *elements = open_attr(h, NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
    struct nlattr *element = open_attr(h, NFTA_LIST_ELEM | NLA_F_NESTED);
    struct nlattr *k = open_attr(h, NFTA_SET_ELEM_KEY | NLA_F_NESTED);
    put_attr(h, NFTA_DATA_VALUE, key, keylen);
    close_attr(h, k);
    if (data != NULL) {
        struct nlattr *d = open_attr(h, NFTA_SET_ELEM_DATA | NLA_F_NESTED);
        put_attr(h, NFTA_DATA_VALUE, data, datalen);
        close_attr(h, d);
    }
    close_attr(h, element);
    close_attr(h, elements);
    b->len += NLMSG_ALIGN(h->nlmsg_len);
}

static void element(struct batch *b, int type, const char *set, const void *key, size_t keylen)
{
    map_element(b, type, NFPROTO_BRIDGE, set, key, keylen, NULL, 0);
}

/* Ends the batch, sends it and waits for the acks of its EXPECTED messages; 0 or -1 with errno and why. */
static int commit(struct batch *b, int expected, char *why, size_t whylen)
{
    struct nlmsghdr *end = message(b, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    b->len += NLMSG_ALIGN(end->nlmsg_len);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
        snprintf(why, whylen, "netlink socket for nf_tables: %s", strerror(errno));
        return -1;
    }
    struct timeval limit = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, b->buf, b->len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        snprintf(why, whylen, "sending to nf_tables: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int acked = 0;
    while (acked < expected) {
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "no answer from nf_tables: %s", n < 0 ? strerror(errno) : "end of stream");
            close(fd);
            return -1;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type != NLMSG_ERROR)
                continue;
            int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (err != 0) {
                snprintf(why, whylen, "%s", strerror(-err));
                close(fd);
                return errno = -err, -1;
            }
            acked++;
        }
    }
    close(fd);
    return 0;
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "xx:xx:xx:xx:xx:xx", exactly. */
static int parse_mac(const char *text, unsigned char mac[6])
{
    if (strlen(text) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hex(text[3 * i]), lo = hex(text[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':'))
            return -1;
        mac[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

/* Unpinning stays with nft: the kernel's commit of a deletion costs 8-28 ms either way, and nft batches many. */
int pin_add(const char *tap, const char *mac_text, const char *ip_text, char *why, size_t whylen)
{
    unsigned char mac[6];
    struct in_addr ip;
    if (strlen(tap) == 0 || strlen(tap) >= IFNAMSIZ || parse_mac(mac_text, mac) < 0
        || inet_pton(AF_INET, ip_text, &ip) != 1) {
        snprintf(why, whylen, "not a pin: %s %s %s", tap, mac_text, ip_text);
        return errno = EINVAL, -1;
    }
    unsigned char name[16] = {0}, ip_key[28] = {0}, arp_key[36] = {0};
    memcpy(name, tap, strlen(tap));
    memcpy(ip_key, name, 16);
    memcpy(ip_key + 16, mac, 6);
    memcpy(ip_key + 24, &ip, 4);
    memcpy(arp_key, name, 16);
    memcpy(arp_key + 16, mac, 6);
    memcpy(arp_key + 24, mac, 6);
    memcpy(arp_key + 32, &ip, 4);

    struct batch b = {0};
    struct nlmsghdr *begin = message(&b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    b.len += NLMSG_ALIGN(begin->nlmsg_len);
    element(&b, NFT_MSG_NEWSETELEM, "taps", name, sizeof name);
    element(&b, NFT_MSG_NEWSETELEM, "ip_pins", ip_key, sizeof ip_key);
    element(&b, NFT_MSG_NEWSETELEM, "arp_pins", arp_key, sizeof arp_key);
    if (commit(&b, 3, why, whylen) < 0) {
        char what[300];
        snprintf(what, sizeof what, "pinning %s to %s %s in bridge %s: %s", tap, mac_text, ip_text, TABLE, why);
        snprintf(why, whylen, "%s", what);
        return -1;
    }
    return 0;
}

/*
 * A port forward as one element of the ip nomad_mirage maps: fwd_local (host_ip "0.0.0.0": every local
 * address), key proto . port; or fwd_addr, key host address . proto . port. The value is guest address .
 * port. A key that is there already fails with EEXIST (the caller evicts the other task's forward).
 */
int fwd_add(const char *host_ip, const char *proto, long host_port, const char *guest_ip, long guest_port,
            char *why, size_t whylen)
{
    struct in_addr host, guest;
    unsigned char l4 = strcmp(proto, "tcp") == 0 ? 6 : strcmp(proto, "udp") == 0 ? 17 : 0;
    if (inet_pton(AF_INET, host_ip, &host) != 1 || inet_pton(AF_INET, guest_ip, &guest) != 1 || l4 == 0
        || host_port < 1 || host_port > 65535 || guest_port < 1 || guest_port > 65535) {
        snprintf(why, whylen, "not a forward: %s %s %ld %s %ld", host_ip, proto, host_port, guest_ip, guest_port);
        return errno = EINVAL, -1;
    }
    /* Concatenated fields each fill a multiple of 4 bytes; ports are in network order at the start of theirs. */
    unsigned char key[12] = {0}, data[8] = {0};
    size_t keylen;
    int any = host.s_addr == 0;
    unsigned char *at = key;
    if (!any) {
        memcpy(at, &host, 4);
        at += 4;
    }
    at[0] = l4;
    at[4] = (unsigned char)(host_port >> 8);
    at[5] = (unsigned char)host_port;
    keylen = any ? 8 : 12;
    memcpy(data, &guest, 4);
    data[4] = (unsigned char)(guest_port >> 8);
    data[5] = (unsigned char)guest_port;

    struct batch b = {0};
    struct nlmsghdr *begin = message(&b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    b.len += NLMSG_ALIGN(begin->nlmsg_len);
    map_element(&b, NFT_MSG_NEWSETELEM, NFPROTO_IPV4, any ? "fwd_local" : "fwd_addr", key, keylen, data, sizeof data);
    if (commit(&b, 1, why, whylen) < 0) {
        int saved = errno;
        char what[300];
        snprintf(what, sizeof what, "forwarding %s %s:%ld to %s:%ld in ip %s: %s", proto, host_ip, host_port,
                 guest_ip, guest_port, TABLE, why);
        snprintf(why, whylen, "%s", what);
        return errno = saved, -1;
    }
    return 0;
}
