package nomadmirage.network;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import nomadmirage.proc.CommandResult;
import nomadmirage.proc.CommandRunner;

/**
 * {@link Firewall} over the iptables tools (either backend). Batches go to
 * iptables-restore as a file argument, so everything runs through the plain
 * command runner and inherits its prefix (e.g. {@code ip netns exec}).
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

    @Override
    public List<SavedRule> rules() throws NetworkSetupException {
        return IptablesSave.ourRules(commands.require("iptables-save"));
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
