package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import nomadmirage.config.Ipv4Cidr;
import org.junit.jupiter.api.Test;

class IptablesRulesTest {
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
                "filter: -A NOMAD_MG_FWD -d 10.99.0.0/16 -o mirage0 -m conntrack --ctstate DNAT" + c + " -j ACCEPT",
                "nat: -A NOMAD_MG_POST -s 127.0.0.0/8 -d 10.99.0.0/16" + c + " -j MASQUERADE",
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
}
