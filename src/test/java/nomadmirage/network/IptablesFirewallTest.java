package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IptablesFirewallTest {
    @TempDir
    Path dir;

    @Test
    void missingJumpIsInsertedAndPresentOneLeftAlone() throws Exception {
        RecordingRunner runner = new RecordingRunner()
                .answer("iptables -w 10 -t nat -N", 1, "", "iptables: Chain already exists.\n")
                .answer("iptables -w 10 -t nat -C PREROUTING", 1, "", "iptables: Bad rule (does a matching rule exist in that chain?).\n");
        new IptablesFirewall(runner, dir).ensureChains();
        assertEquals(List.of(
                "iptables -w 10 -t nat -N NOMAD_MG_PRE",
                "iptables -w 10 -t nat -C PREROUTING -j NOMAD_MG_PRE",
                "iptables -w 10 -t nat -I PREROUTING -j NOMAD_MG_PRE",
                "iptables -w 10 -t nat -N NOMAD_MG_OUT",
                "iptables -w 10 -t nat -C OUTPUT -j NOMAD_MG_OUT",
                "iptables -w 10 -t nat -N NOMAD_MG_POST",
                "iptables -w 10 -t nat -C POSTROUTING -j NOMAD_MG_POST",
                "iptables -w 10 -t filter -N NOMAD_MG_FWD",
                "iptables -w 10 -t filter -C FORWARD -j NOMAD_MG_FWD",
                "iptables -w 10 -t filter -N NOMAD_MG_IN",
                "iptables -w 10 -t filter -C INPUT -j NOMAD_MG_IN"), runner.commands);
    }

    @Test
    void unexpectedCheckFailureIsNotTakenForAMissingJump() {
        RecordingRunner runner = new RecordingRunner()
                .answer("iptables -w 10 -t nat -C", 4, "", "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied\n");
        NetworkSetupException e = assertThrows(NetworkSetupException.class, () -> new IptablesFirewall(runner, dir).ensureChains());
        assertTrue(e.getMessage().contains("Permission denied"), e.getMessage());
    }

    @Test
    void batchIsPassedAsAFileAndRemovedAfterwards() throws Exception {
        List<String> seen = new ArrayList<>();
        RecordingRunner recorder = new RecordingRunner();
        IptablesFirewall firewall = new IptablesFirewall((argv, timeout) -> {
            Path file = Path.of(argv.getLast());
            try {
                seen.add(Files.readString(file));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return recorder.run(argv, Duration.ofSeconds(1));
        }, dir);
        firewall.apply(new RuleBatch().add("nat", "-A NOMAD_MG_PRE -j RETURN"));
        assertEquals(List.of("*nat\n-A NOMAD_MG_PRE -j RETURN\nCOMMIT\n"), seen);
        assertTrue(recorder.commands.getFirst().startsWith("iptables-restore -w 10 --noflush " + dir + "/iptables-"));
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void failedRestoreNamesTheCommandAndQuotesStderrAndBatch() {
        RecordingRunner runner = new RecordingRunner()
                .answer("iptables-restore", 1, "", "iptables-restore: line 2 failed: No chain/target/match by that name.\n");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> new IptablesFirewall(runner, dir).apply(new RuleBatch().add("nat", "-A NOPE -j RETURN")));
        assertTrue(e.getMessage().contains("iptables-restore -w 10 --noflush"), e.getMessage());
        assertTrue(e.getMessage().contains("line 2 failed: No chain/target/match by that name."), e.getMessage());
        assertTrue(e.getMessage().contains("-A NOPE -j RETURN"), e.getMessage());
    }

    @Test
    void emptyBatchRunsNothing() throws Exception {
        RecordingRunner runner = new RecordingRunner();
        new IptablesFirewall(runner, dir).apply(new RuleBatch());
        assertEquals(List.of(), runner.commands);
    }

    /**
     * Adds {@code iptables -S} answers for each of our chains (rules as in {@link IptablesSaveTest#SAMPLE});
     * answers already in {@code runner} come first.
     */
    private static RecordingRunner listing(RecordingRunner runner) {
        return runner
                .answer("iptables -w 10 -t nat -S NOMAD_MG_PRE", 0, """
                        -N NOMAD_MG_PRE
                        -A NOMAD_MG_PRE -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment "mirage:alloc1/web/aa" -j DNAT --to-destination 10.99.0.2:80
                        -A NOMAD_MG_PRE -p tcp -m tcp --dport 3 -j RETURN
                        """, "")
                .answer("iptables -w 10 -t nat -S NOMAD_MG_POST", 0, """
                        -N NOMAD_MG_POST
                        -A NOMAD_MG_POST -s 127.0.0.0/8 -d 10.99.0.2/32 -m comment --comment "mirage:alloc1/web/aa" -j MASQUERADE
                        """, "")
                .answer("iptables -w 10 -t filter -S NOMAD_MG_FWD", 0, """
                        -N NOMAD_MG_FWD
                        -A NOMAD_MG_FWD -i mirage0 -m comment --comment "mirage:pool" -j ACCEPT
                        -A NOMAD_MG_FWD -d 10.99.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "mirage:alloc1/web/aa" -j ACCEPT
                        """, "")
                .answer("iptables -w 10 -t", 0, "", "");
    }

    @Test
    void rulesAreListedChainByChainAsWholeListings() throws Exception {
        RecordingRunner runner = listing(new RecordingRunner());
        List<SavedRule> rules = new IptablesFirewall(runner, dir).rules();
        assertEquals(List.of(
                "nat NOMAD_MG_PRE mirage:alloc1/web/aa",
                "nat NOMAD_MG_PRE -",
                "nat NOMAD_MG_POST mirage:alloc1/web/aa",
                "filter NOMAD_MG_FWD mirage:pool",
                "filter NOMAD_MG_FWD mirage:alloc1/web/aa"),
                rules.stream().map(r -> r.table() + " " + r.chain() + " " + r.comment().orElse("-")).toList());
        List<String> listings = List.of(
                "iptables -w 10 -t nat -S NOMAD_MG_PRE",
                "iptables -w 10 -t nat -S NOMAD_MG_OUT",
                "iptables -w 10 -t nat -S NOMAD_MG_POST",
                "iptables -w 10 -t filter -S NOMAD_MG_FWD",
                "iptables -w 10 -t filter -S NOMAD_MG_IN");
        assertEquals(listings, runner.commands, "only our chains, never a whole iptables-save");
        for (String listing : listings) {
            assertEquals(HostCommands.LISTING_MAX_OUTPUT_BYTES, runner.bounds.get(listing), listing);
        }
    }

    @Test
    void aTruncatedListingIsAnErrorAndNothingIsDeleted() {
        RecordingRunner runner = listing(new RecordingRunner().answerTruncated("iptables -w 10 -t nat -S NOMAD_MG_OUT", """
                -N NOMAD_MG_OUT
                -A NOMAD_MG_OUT -p tcp -m tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment "mirage:alloc1/web/aa" -j DNAT --to-destination 10.99.0.2:80
                """));
        IptablesFirewall firewall = new IptablesFirewall(runner, dir);
        NetworkSetupException e = assertThrows(NetworkSetupException.class, firewall::rules);
        assertTrue(e.getMessage().contains("refusing to act on a partial listing"), e.getMessage());
        assertTrue(e.getMessage().contains("-S NOMAD_MG_OUT: exited 0 (output truncated)"), e.getMessage());

        NetworkSetupException detach = assertThrows(NetworkSetupException.class,
                () -> new RuleEditor(firewall).removeTask("alloc1/web/aa"));
        assertTrue(detach.getMessage().contains("partial listing"), detach.getMessage());
        assertTrue(runner.commands.stream().noneMatch(c -> c.startsWith("iptables-restore")), runner.commands.toString());
    }

    @Test
    void aChainThatDoesNotExistHasNoRules() throws Exception {
        RecordingRunner runner = new RecordingRunner()
                .answer("iptables -w 10 -t", 1, "", "iptables v1.8.9 (nf_tables): chain `NOMAD_MG_PRE' in table `nat'"
                        + " is incompatible, use 'nft' tool.\n")
                .answer("iptables-save -t nat", 0, "*nat\n:PREROUTING ACCEPT [0:0]\n:NOMAD_MG_PREFIX - [0:0]\nCOMMIT\n", "")
                .answer("iptables-save -t filter", 0, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "");
        assertEquals(List.of(), new IptablesFirewall(runner, dir).rules());
        assertEquals(1, runner.commands.stream().filter(c -> c.equals("iptables-save -t nat")).count(),
                "each table is looked at once");
        assertEquals(1, runner.commands.stream().filter(c -> c.equals("iptables-save -t filter")).count());
    }

    @Test
    void aFailingListingOfAChainThatExistsIsAnError() {
        RecordingRunner failing = new RecordingRunner()
                .answer("iptables -w 10 -t nat -S NOMAD_MG_OUT", 4, "",
                        "Another app is currently holding the xtables lock. Stopped waiting after 10s.\n")
                .answer("iptables-save -t nat", 0, "*nat\n:NOMAD_MG_OUT - [0:0]\nCOMMIT\n", "");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> new IptablesFirewall(failing, dir).rules());
        assertTrue(e.getMessage().contains("-S NOMAD_MG_OUT: exited 4: Another app"), e.getMessage());
    }
}
