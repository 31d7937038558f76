package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import nomadmirage.config.Ipv4Cidr;
import org.junit.jupiter.api.Test;

class IptablesRulesTest {
    private static final String TASK = "3f1c9a2e-8b7d-4e55-9c0a-1d2e3f4a5b6c/web/4a1b2c3d";

    private static DeviceAttachment device(String ip, PortForward... forwards) {
        return new DeviceAttachment("service", "mgaaaaaaaaaaaaa", "00:80:41:01:02:03", ip, 16, "10.99.0.1",
                List.of(forwards));
    }

    @Test
    void taskBatchForwardsTcpAndUdpFromOutsideAndFromTheHost() {
        RuleBatch batch = IptablesRules.forTask(TASK, List.of(device("10.99.0.2",
                PortForward.anyAddress("http", 8080, 80), new PortForward("admin", 9090, 9000, "192.0.2.10"))));
        String c = " -m comment --comment \"mirage:" + TASK + "\"";
        assertEquals("*nat\n"
                + "-A NOMAD_MG_PRE -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL" + c + " -j DNAT --to-destination 10.99.0.2:80\n"
                + "-A NOMAD_MG_OUT -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL" + c + " -j DNAT --to-destination 10.99.0.2:80\n"
                + "-A NOMAD_MG_PRE -p udp -m udp --dport 8080 -m addrtype --dst-type LOCAL" + c + " -j DNAT --to-destination 10.99.0.2:80\n"
                + "-A NOMAD_MG_OUT -p udp -m udp --dport 8080 -m addrtype --dst-type LOCAL" + c + " -j DNAT --to-destination 10.99.0.2:80\n"
                + "-A NOMAD_MG_PRE -d 192.0.2.10/32 -p tcp -m tcp --dport 9090" + c + " -j DNAT --to-destination 10.99.0.2:9000\n"
                + "-A NOMAD_MG_OUT -d 192.0.2.10/32 -p tcp -m tcp --dport 9090" + c + " -j DNAT --to-destination 10.99.0.2:9000\n"
                + "-A NOMAD_MG_PRE -d 192.0.2.10/32 -p udp -m udp --dport 9090" + c + " -j DNAT --to-destination 10.99.0.2:9000\n"
                + "-A NOMAD_MG_OUT -d 192.0.2.10/32 -p udp -m udp --dport 9090" + c + " -j DNAT --to-destination 10.99.0.2:9000\n"
                + "-A NOMAD_MG_POST -s 127.0.0.0/8 -d 10.99.0.2/32" + c + " -j MASQUERADE\n"
                + "COMMIT\n"
                + "*filter\n"
                + "-A NOMAD_MG_FWD -d 10.99.0.2/32 -p tcp -m tcp --dport 80" + c + " -j ACCEPT\n"
                + "-A NOMAD_MG_FWD -d 10.99.0.2/32 -p udp -m udp --dport 80" + c + " -j ACCEPT\n"
                + "-A NOMAD_MG_FWD -d 10.99.0.2/32 -p tcp -m tcp --dport 9000" + c + " -j ACCEPT\n"
                + "-A NOMAD_MG_FWD -d 10.99.0.2/32 -p udp -m udp --dport 9000" + c + " -j ACCEPT\n"
                + "COMMIT\n", batch.render());
    }

    @Test
    void twoHostPortsToOneGuestPortAcceptOnce() {
        List<String> lines = IptablesRules.forTask(TASK, List.of(device("10.99.0.2",
                PortForward.anyAddress("a", 8080, 80), PortForward.anyAddress("b", 8081, 80)))).lines();
        assertEquals(1, lines.stream().filter(l -> l.startsWith("-A NOMAD_MG_FWD") && l.contains("-p tcp")).count());
        assertEquals(8, lines.stream().filter(l -> l.contains("DNAT")).count());
    }

    @Test
    void deviceWithoutForwardsNeedsNoRules() {
        assertTrue(IptablesRules.forTask(TASK, List.of(device("10.99.0.2"))).isEmpty());
        assertEquals("", IptablesRules.forTask(TASK, List.of()).render());
    }

    @Test
    void everyRuleCarriesTheTaskComment() {
        for (SavedRule rule : IptablesRules.taskRules(TASK, List.of(device("10.99.0.2", PortForward.anyAddress("a", 1, 2))))) {
            assertEquals("mirage:" + TASK, rule.comment().orElseThrow(), rule.toString());
            assertTrue(Chain.isOurs(rule.table(), rule.chain()));
        }
    }

    @Test
    void unusualTaskIdsAreHashedIntoTheComment() {
        assertEquals("mirage:a/b/c", IptablesRules.comment("a/b/c"));
        String quoted = IptablesRules.comment("alloc/my \"task\"/1");
        assertTrue(quoted.matches("mirage:~[a-z2-7]{26}"), quoted);
        assertEquals(quoted, IptablesRules.comment("alloc/my \"task\"/1"));
        assertTrue(IptablesRules.comment("x".repeat(300)).length() < 40);
        assertEquals(255, IptablesRules.comment("x".repeat(248)).length());
        assertFalse(IptablesRules.comment("pool").equals(IptablesRules.POOL_COMMENT), "a task named pool is not the pool");
    }

    @Test
    void taskAndPoolCommentsAreTold() {
        assertTrue(IptablesRules.isTaskComment("mirage:a/b/c"));
        assertFalse(IptablesRules.isTaskComment("mirage:pool"));
        assertFalse(IptablesRules.isTaskComment("docker rule"));
    }

    @Test
    void poolRules() {
        List<String> lines = IptablesRules.pool("mirage0", Ipv4Cidr.parse("10.99.0.0/16")).stream()
                .map(SavedRule::describe).toList();
        String c = " -m comment --comment \"mirage:pool\"";
        assertEquals(List.of(
                "nat: -A NOMAD_MG_POST -s 10.99.0.0/16 ! -d 10.99.0.0/16" + c + " -j MASQUERADE",
                "nat: -A NOMAD_MG_POST -s 10.99.0.0/16 -d 10.99.0.0/16 -m conntrack --ctstate DNAT" + c + " -j MASQUERADE",
                "filter: -A NOMAD_MG_FWD -i mirage0" + c + " -j ACCEPT",
                "filter: -A NOMAD_MG_FWD -o mirage0 -m conntrack --ctstate RELATED,ESTABLISHED" + c + " -j ACCEPT",
                "filter: -A NOMAD_MG_IN -d 127.0.0.0/8 -i mirage0 -m conntrack ! --ctstate RELATED,ESTABLISHED" + c
                        + " -j DROP"), lines);
    }

    @Test
    void removalDeletesExactlyTheListedSpecsGroupedByTable() {
        List<SavedRule> rules = IptablesSave.ourRules(IptablesSaveTest.SAMPLE).stream()
                .filter(r -> r.comment().orElse("").equals("mirage:alloc1/web/aa")).toList();
        assertEquals("*filter\n"
                + "-D NOMAD_MG_FWD -d 10.99.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment \"mirage:alloc1/web/aa\" -j ACCEPT\n"
                + "COMMIT\n"
                + "*nat\n"
                + "-D NOMAD_MG_POST -s 127.0.0.0/8 -d 10.99.0.2/32 -m comment --comment \"mirage:alloc1/web/aa\" -j MASQUERADE\n"
                + "-D NOMAD_MG_PRE -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment \"mirage:alloc1/web/aa\" -j DNAT --to-destination 10.99.0.2:80\n"
                + "COMMIT\n", IptablesRules.removal(rules).render());
    }

    private static List<SavedRule> forwarding(String taskId, String ip, PortForward... forwards) {
        return IptablesRules.taskRules(taskId, List.of(device(ip, forwards)));
    }

    @Test
    void forwardedEndpointsOfGeneratedRules() {
        List<SavedRule> rules = forwarding(TASK, "10.99.0.2", PortForward.anyAddress("http", 8080, 80),
                new PortForward("admin", 9090, 9000, "192.0.2.10"));
        assertEquals(List.of("*:8080/tcp", "*:8080/tcp", "*:8080/udp", "*:8080/udp",
                "192.0.2.10:9090/tcp", "192.0.2.10:9090/tcp", "192.0.2.10:9090/udp", "192.0.2.10:9090/udp"),
                rules.stream().map(IptablesRules::forwardedEndpoint).flatMap(java.util.Optional::stream)
                        .map(Object::toString).toList(), "the DNAT rules only, PREROUTING and OUTPUT");
        assertEquals(13, rules.size());
    }

    @Test
    void rulesOfOtherShapesForwardNothing() {
        String c = " -m comment --comment \"mirage:x\"";
        for (String spec : List.of(
                "! -d 192.0.2.1/32 -p tcp -m tcp --dport 80" + c + " -j DNAT --to-destination 10.99.0.2:80",
                "-d 192.0.2.0/24 -p tcp -m tcp --dport 80" + c + " -j DNAT --to-destination 10.99.0.2:80",
                "-p tcp -m tcp --dport 80:90" + c + " -j DNAT --to-destination 10.99.0.2:80",
                "-p tcp -m tcp ! --dport 80" + c + " -j DNAT --to-destination 10.99.0.2:80",
                "-p tcp -m tcp --dport 80" + c + " -j RETURN",
                "-p sctp -m sctp --dport 80" + c + " -j DNAT --to-destination 10.99.0.2:80")) {
            SavedRule rule = new SavedRule("nat", "NOMAD_MG_PRE", spec, IptablesSave.comment(spec));
            assertTrue(IptablesRules.forwardedEndpoint(rule).isEmpty(), spec);
        }
        String dnat = "-p tcp -m tcp --dport 80" + c + " -j DNAT --to-destination 10.99.0.2:80";
        assertTrue(IptablesRules.forwardedEndpoint(new SavedRule("nat", "NOMAD_MG_PRE", dnat, Optional.of("mirage:x")))
                .isPresent());
        assertTrue(IptablesRules.forwardedEndpoint(new SavedRule("nat", "NOMAD_MG_POST", dnat, Optional.of("mirage:x")))
                .isEmpty(), "not one of our DNAT chains");
        assertTrue(IptablesRules.forwardedEndpoint(new SavedRule("nat", "KUBE-SVC", dnat, Optional.of("mirage:x")))
                .isEmpty());
    }

    @Test
    void anotherTasksForwardOfTheSameHostPortIsShadowingTcpAndUdpInBothChains() {
        List<SavedRule> wanted = forwarding("t-new", "10.99.0.9", PortForward.anyAddress("http", 8080, 80));
        List<SavedRule> dead = forwarding("t-dead", "10.99.0.3", PortForward.anyAddress("http", 8080, 80),
                PortForward.anyAddress("dns", 5353, 53));
        List<SavedRule> present = new ArrayList<>(dead);
        present.addAll(IptablesRules.pool("mirage0", Ipv4Cidr.parse("10.99.0.0/16")));
        List<SavedRule> evicted = IptablesRules.shadowing("t-new", wanted, present);
        assertEquals(List.of(
                "nat: -A NOMAD_MG_PRE -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment \"mirage:t-dead\" -j DNAT --to-destination 10.99.0.3:80",
                "nat: -A NOMAD_MG_OUT -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment \"mirage:t-dead\" -j DNAT --to-destination 10.99.0.3:80",
                "nat: -A NOMAD_MG_PRE -p udp -m udp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment \"mirage:t-dead\" -j DNAT --to-destination 10.99.0.3:80",
                "nat: -A NOMAD_MG_OUT -p udp -m udp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment \"mirage:t-dead\" -j DNAT --to-destination 10.99.0.3:80"),
                evicted.stream().map(SavedRule::describe).toList(),
                "the other port, the MASQUERADE and ACCEPT rules and the pool rules stay");
    }

    @Test
    void addressesOverlapWhenEqualOrWhenEitherTakesEveryLocalAddress() {
        List<SavedRule> onIp = forwarding("t-new", "10.99.0.9", new PortForward("http", 8080, 80, "192.0.2.10"));
        List<SavedRule> onAny = forwarding("t-new", "10.99.0.9", PortForward.anyAddress("http", 8080, 80));
        List<SavedRule> sameIp = forwarding("t-old", "10.99.0.3", new PortForward("http", 8080, 80, "192.0.2.10"));
        List<SavedRule> otherIp = forwarding("t-old", "10.99.0.3", new PortForward("http", 8080, 80, "192.0.2.11"));
        List<SavedRule> any = forwarding("t-old", "10.99.0.3", PortForward.anyAddress("http", 8080, 80));
        assertEquals(4, IptablesRules.shadowing("t-new", onIp, sameIp).size());
        assertEquals(0, IptablesRules.shadowing("t-new", onIp, otherIp).size(), "two addresses, two forwards");
        assertEquals(4, IptablesRules.shadowing("t-new", onIp, any).size(), "every local address includes ours");
        assertEquals(4, IptablesRules.shadowing("t-new", onAny, otherIp).size(), "ours includes the other's address");
        assertEquals(0, IptablesRules.shadowing("t-new", onAny,
                forwarding("t-old", "10.99.0.3", PortForward.anyAddress("http", 8081, 8080))).size(), "other host port");
    }

    @Test
    void ownForeignAndUntaggedRulesAreNeverEvicted() {
        List<SavedRule> wanted = forwarding("t-new", "10.99.0.9", PortForward.anyAddress("http", 8080, 80));
        String spec = "-p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL%s -j DNAT --to-destination 10.0.0.1:80";
        List<SavedRule> present = new ArrayList<>(forwarding("t-new", "10.99.0.2", PortForward.anyAddress("http", 8080, 80)));
        for (String tag : List.of("", " -m comment --comment \"mirage:pool\"", " -m comment --comment kube-svc")) {
            String s = spec.formatted(tag);
            present.add(new SavedRule("nat", "NOMAD_MG_PRE", s, IptablesSave.comment(s)));
        }
        assertEquals(List.of(), IptablesRules.shadowing("t-new", wanted, present),
                "the task's own older rules are sync's to replace; untagged or pool rules are nobody's task");
        assertEquals(List.of(), IptablesRules.shadowing("t-new", List.of(), forwarding("t-old", "10.99.0.3",
                PortForward.anyAddress("http", 8080, 80))), "no forwards, nothing to shadow");
    }

    @Test
    void hashedTaskIdsAreEvictedAndNamedByTheirHash() {
        String odd = "task with spaces";
        List<SavedRule> stale = forwarding(odd, "10.99.0.3", PortForward.anyAddress("http", 8080, 80));
        List<SavedRule> evicted = IptablesRules.shadowing("t-new",
                forwarding("t-new", "10.99.0.9", PortForward.anyAddress("http", 8080, 80)), stale);
        assertEquals(4, evicted.size());
        assertEquals(IptablesRules.comment(odd).substring("mirage:".length()),
                IptablesRules.owner(evicted.getFirst().comment().orElseThrow()));
        assertTrue(IptablesRules.owner(evicted.getFirst().comment().orElseThrow()).startsWith("~"));
        assertEquals("t-new", IptablesRules.owner("mirage:t-new"));
    }
}
