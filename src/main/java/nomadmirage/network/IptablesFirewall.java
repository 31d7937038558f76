package nomadmirage.network;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * {@link Firewall} over the iptables tools (either backend). Batches go to
 * iptables-restore as a file argument, so everything runs through the plain
 * command runner and inherits its prefix (e.g. {@code ip netns exec}).
 *
 * <p>Rules are read chain by chain ({@code iptables -t TABLE -S CHAIN}), not from a whole
 * {@code iptables-save}: that prints every other program's rules too (a kube-proxy node has
 * tens of thousands in nat), and with the nf_tables backend it costs seconds where one chain
 * costs milliseconds. A listing whose output was truncated is an error, never parsed.
 */
public final class IptablesFirewall implements Firewall {
    /** Wait for the legacy xtables lock instead of failing; the nft backend ignores it. */
    private static final String WAIT_SECONDS = "10";

    private final HostCommands commands;
    private final Path batchDir;
    /** One restore at a time from this process; a batch computed from a listing must not race our own edits. */
    private final ReentrantLock restoreLock = new ReentrantLock();

    public IptablesFirewall(CommandRunner runner, Path batchDir) {
        this.commands = new HostCommands(runner);
        this.batchDir = batchDir;
    }

    @Override
    public void ensureChains() throws NetworkSetupException {
        for (Chain chain : Chain.values()) {
            CommandResult created = iptables(chain.table(), "-N", chain.chainName());
            if (!created.succeeded() && !created.stderr().contains("already exists")) {
                throw HostCommands.failure(created);
            }
            CommandResult check = iptables(chain.table(), "-C", chain.parent(), "-j", chain.chainName());
            if (check.succeeded()) {
                continue;
            }
            if (check.timedOut() || check.exitCode() != 1) {
                throw HostCommands.failure(check);
            }
            CommandResult insert = iptables(chain.table(), "-I", chain.parent(), "-j", chain.chainName());
            if (!insert.succeeded()) {
                throw HostCommands.failure(insert);
            }
        }
    }

    private CommandResult iptables(String table, String... args) throws NetworkSetupException {
        String[] argv = new String[5 + args.length];
        argv[0] = "iptables";
        argv[1] = "-w";
        argv[2] = WAIT_SECONDS;
        argv[3] = "-t";
        argv[4] = table;
        System.arraycopy(args, 0, argv, 5, args.length);
        return commands.attempt(argv);
    }

    private static String abbreviate(String text) {
        return text.length() <= 4000 ? text : text.substring(0, 4000) + "\n... (" + text.length() + " characters)";
    }

    /**
     * The rules of our chains, chain by chain in {@link Chain} order. A chain that does not
     * exist (the host is not set up yet) has no rules; whether it exists is asked only when
     * listing it failed, because the tools word that error differently (legacy: "No
     * chain/target/match by that name", nf_tables 1.8.9: "chain ... is incompatible").
     */
    @Override
    public List<SavedRule> rules() throws NetworkSetupException {
        List<SavedRule> rules = new ArrayList<>();
        Map<String, String> savedTables = new HashMap<>();
        for (Chain chain : Chain.values()) {
            CommandResult listed = commands.attemptListing("iptables", "-w", WAIT_SECONDS, "-t", chain.table(), "-S",
                    chain.chainName());
            if (listed.succeeded()) {
                rules.addAll(IptablesSave.chainRules(chain, HostCommands.whole(listed)));
                continue;
            }
            if (listed.timedOut()) {
                throw HostCommands.failure(listed);
            }
            String saved;
            try {
                saved = savedTables.containsKey(chain.table()) ? savedTables.get(chain.table())
                        : commands.list("iptables-save", "-t", chain.table());
            } catch (NetworkSetupException e) {
                NetworkSetupException failure = HostCommands.failure(listed);
                failure.addSuppressed(e);
                throw failure;
            }
            savedTables.put(chain.table(), saved);
            if (IptablesSave.declaresChain(saved, chain.chainName())) {
                throw HostCommands.failure(listed);
            }
        }
        return rules;
    }

    @Override
    public void apply(RuleBatch batch) throws NetworkSetupException {
        if (batch.isEmpty()) {
            return;
        }
        Path file;
        try {
            Files.createDirectories(batchDir);
            file = Files.createTempFile(batchDir, "iptables-", ".rules");
        } catch (IOException e) {
            throw new NetworkSetupException("cannot create an iptables batch file in " + batchDir + ": " + e.getMessage(), e);
        }
        restoreLock.lock();
        try {
            Files.writeString(file, batch.render(), StandardCharsets.UTF_8);
            CommandResult result = commands.attempt("iptables-restore", "-w", WAIT_SECONDS, "--noflush", file.toString());
            if (!result.succeeded()) {
                throw new NetworkSetupException("network command failed: " + result.summary() + "\nbatch:\n"
                        + abbreviate(batch.render()));
            }
        } catch (IOException e) {
            throw new NetworkSetupException("cannot write the iptables batch " + file + ": " + e.getMessage(), e);
        } finally {
            restoreLock.unlock();
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // A stray temp file in the state directory is harmless.
            }
        }
    }
}
