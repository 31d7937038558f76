package nomadmirage.proc;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What to supervise. {@code argv[0]} is executed as given (no PATH search), relative to
 * {@code workingDir} when not absolute. The supervisor and the tender see exactly
 * {@link #TENDER_ENVIRONMENT}, never the plugin's nor the job's environment: a unikernel has no
 * environment, and whatever a job sets (env {}, templates, Vault and Nomad tokens) would otherwise
 * reach a root process (LD_PRELOAD and the like) and sit readable in /proc/PID/environ.
 * The tender's stdout and stderr are pipes to its supervisor, which copies them to
 * {@code stdoutPath}/{@code stderrPath} and keeps their last lines as the console tail
 * ({@link ExitStatus#consoleTail()}). A path may be null or /dev/null (the output is then only
 * kept in the tail); otherwise it must be a FIFO or a regular file, never a symlink, and a
 * missing one becomes a new regular file. The supervisor opens them as its own user, and
 * starts the tender once a FIFO has a reader.
 *
 * <p>Each of {@code privateDevices} the tender gets as a node of its own, owned by {@code user},
 * in a mount namespace of its own: it opens its taps (owned by that user) and KVM there and needs
 * no access to the host's nodes.
 *
 * <p>The tender runs in {@code cgroups} (created, limited and joined before it execs; see
 * {@link CgroupJoin}) with its OOM score adjustment reset to 0.
 *
 * <p>With a {@code networkNamespace} (a Nomad group's, e.g. /var/run/netns/ID) the tender runs in that
 * network namespace and opens its tap there by name; the supervisor stays in its own. It must be a
 * namespace file itself (nsfs, never a symlink to one), else the launch fails.
 *
 * @param user null to run the tender as the plugin's own user
 * @param networkNamespace an absolute path, or null for the supervisor's own network namespace
 */
public record LaunchRequest(List<String> argv, Path workingDir,
        Path stdoutPath, Path stderrPath, Path runDir, TaskUser user, Set<PrivateDevice> privateDevices,
        List<CgroupJoin> cgroups, Path networkNamespace) {
    /** All a tender gets: solo5-hvt, solo5-spt and qemu read no variable, and exec nothing by name. */
    public static final Map<String, String> TENDER_ENVIRONMENT = Map.of("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");

    public LaunchRequest {
        argv = List.copyOf(argv);
        if (argv.isEmpty() || argv.getFirst().isEmpty()) {
            throw new IllegalArgumentException("argv needs a tender path");
        }
        for (String arg : argv) {
            if (arg.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("NUL in argument: " + arg);
            }
        }
        Objects.requireNonNull(workingDir, "workingDir");
        Objects.requireNonNull(runDir, "runDir");
        cgroups = List.copyOf(cgroups);
        privateDevices = privateDevices.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(privateDevices));
        if (!privateDevices.isEmpty() && (user == null || user.uid() == 0)) {
            throw new IllegalArgumentException("private device nodes are for a tender running as a user other than root");
        }
        if (networkNamespace != null && !networkNamespace.isAbsolute()) {
            throw new IllegalArgumentException("network namespace not an absolute path: " + networkNamespace);
        }
    }

    /** A tender that uses the host's devices as they are. */
    public LaunchRequest(List<String> argv, Path workingDir, Path stdoutPath, Path stderrPath, Path runDir,
            TaskUser user) {
        this(argv, workingDir, stdoutPath, stderrPath, runDir, user, Set.of());
    }

    /** A tender in the cgroups of whoever started the plugin. */
    public LaunchRequest(List<String> argv, Path workingDir, Path stdoutPath, Path stderrPath, Path runDir,
            TaskUser user, Set<PrivateDevice> privateDevices) {
        this(argv, workingDir, stdoutPath, stderrPath, runDir, user, privateDevices, List.of(), null);
    }
}
