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

    @Test
    void rulesComeFromIptablesSave() throws Exception {
        RecordingRunner runner = new RecordingRunner().answer("iptables-save", 0, IptablesSaveTest.SAMPLE, "");
        assertEquals(8, new IptablesFirewall(runner, dir).rules().size());
        assertEquals(List.of("iptables-save"), runner.commands);
    }
}
