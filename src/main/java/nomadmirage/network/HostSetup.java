package nomadmirage.network;

/** Brings the node to the state every task network relies on; each step is idempotent. */
final class HostSetup {
    private final NetworkSettings settings;
    private final HostNetwork host;
    private final Firewall firewall;
    private final GuestFilter guests;
    private final ForwardTable forwards;
    private final RuleEditor rules;

    HostSetup(NetworkSettings settings, HostNetwork host, Firewall firewall, GuestFilter guests, ForwardTable forwards) {
        this.settings = settings;
        this.host = host;
        this.firewall = firewall;
        this.guests = guests;
        this.forwards = forwards;
        this.rules = new RuleEditor(firewall);
    }

    /** Returns whether the pool rules had to be changed (false on every call after the first). */
    boolean ensure() throws NetworkSetupException {
        host.ensureBridge(settings.bridge(), settings.subnet(), settings.mtu());
        host.setSysctl("net.ipv4.ip_forward", "1");
        // Lets DNAT send connections from 127.0.0.1 out of the bridge (and take the replies); set on the
        // bridge only, since on "all" it would accept 127.0.0.0/8 traffic from every network (CVE-2020-8558).
        host.setSysctl("net/ipv4/conf/" + settings.bridge() + "/route_localnet", "1");
        firewall.ensureChains();
        guests.ensure(settings.subnet(), settings.isolateTasks());
        forwards.ensure();
        return rules.sync(IptablesRules.POOL_COMMENT, IptablesRules.pool(settings.bridge(), settings.subnet()));
    }
}
