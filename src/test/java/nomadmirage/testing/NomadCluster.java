package nomadmirage.testing;

import static nomadmirage.testing.Unchecked.quietly;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import nomadmirage.testing.NomadAgent.Result;

/**
 * A real three-node Nomad v1.6.3 cluster on this one machine: a server and two clients, each its own
 * agent process in a network namespace of its own ({@code mg-cl-XXXX-server}, {@code -c1}, {@code -c2}),
 * joined by veth pairs to a lab bridge {@code lab0} in a fourth namespace ({@code mg-cl-XXXX-lab}) on
 * {@value #LAB_PREFIX}.0/24. Nothing is created in the host's own network namespace: each veth pair is
 * made inside the lab namespace and its peer moved straight into the node's.
 *
 * <p>Each client has the mirage plugin in its plugin_dir, its own data_dir, plugin {@code state_dir},
 * TMPDIR and cgroup parent, and {@code network_interface} = its veth, so Nomad fingerprints the node's
 * lab address and binds host ports to it. The two plugins keep the default subnet (10.99.0.0/16): the
 * address pools are node-local. They get disjoint {@code dynamic_user_min/max} ranges: the clients
 * share one kernel here (one pid and uid space), and a plugin ends every process of a task uid it hands
 * out, so two plugins handing out the same uids would end each other's tenders — separate machines do
 * not have that problem.
 *
 * <p>{@link #close()} stops the agents (SIGINT, then SIGKILL), kills whatever is left in the node
 * namespaces (by pid), unmounts what Nomad mounted below the cluster's directory, removes the cgroup
 * parents, deletes the four namespaces and the directory.
 */
public final class NomadCluster implements AutoCloseable {
    public static final String LAB_PREFIX = "192.168.77";
    /** The node side of each node's veth, the client's {@code network_interface}. */
    public static final String LAB_IF = "eth-lab";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);
    private static final int LOG_TAIL_LINES = 60;

    /** One agent: its namespace, address, directory and process. */
    public final class Node {
        private final String name;
        private final String netns;
        private final String ip;
        private final Path dir;
        private final boolean client;
        private final int uidBase;
        private Process process;

        private Node(String name, String ip, boolean client, int uidBase) {
            this.name = name;
            this.netns = prefix + "-" + name;
            this.ip = ip;
            this.dir = root.resolve(name);
            this.client = client;
            this.uidBase = uidBase;
        }

        /** The agent's node name ({@code mg-cl-XXXX-c1}), as Nomad lists it. */
        public String nodeName() {
            return netns;
        }

        public String netns() {
            return netns;
        }

        /** The node's address on the lab bridge. */
        public String ip() {
            return ip;
        }

        public Path dir() {
            return dir;
        }

        /** The mirage plugin's state_dir on this node. */
        public Path stateDir() {
            return dir.resolve("mirage-state");
        }

        public Path logFile() {
            return dir.resolve("agent.log");
        }

        public long agentPid() {
            return process == null ? -1 : process.pid();
        }

        public boolean running() {
            return process != null && process.isAlive();
        }

        /** Runs a command in this node's network namespace (host mounts), whatever its exit status. */
        public Result exec(String... argv) throws IOException, InterruptedException {
            List<String> full = new ArrayList<>(List.of("nsenter", "--net=/run/netns/" + netns, "--", "env",
                    "NOMAD_ADDR=" + serverAddr(), "NOMAD_CLI_SHOW_HINTS=false"));
            full.addAll(List.of(argv));
            return NomadAgent.run(full, COMMAND_TIMEOUT);
        }

        /** {@link #exec} that must exit 0; its stdout. */
        public String execOk(String... argv) throws IOException, InterruptedException {
            Result result = exec(argv);
            if (!result.ok()) {
                throw new AssertionError("command in " + netns + " failed: " + result);
            }
            return result.stdout();
        }

        /** PIDs of the processes in this node's network namespace. */
        public List<Long> netnsPids() throws IOException, InterruptedException {
            Result result = NomadAgent.run(List.of("ip", "netns", "pids", netns), Duration.ofSeconds(10));
            if (!result.ok()) {
                throw new AssertionError("ip netns pids failed: " + result);
            }
            return result.stdout().lines().map(String::strip).filter(s -> !s.isEmpty()).map(Long::parseLong)
                    .toList();
        }

        public String logTail(int lines) {
            try {
                if (!Files.exists(logFile())) {
                    return "(no agent.log)";
                }
                List<String> all = Files.readAllLines(logFile(), StandardCharsets.UTF_8);
                return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
            } catch (IOException e) {
                return "(cannot read agent.log: " + e + ")";
            }
        }

        @Override
        public String toString() {
            return netns + " (" + ip + ")";
        }

        private String config() {
            StringBuilder hcl = new StringBuilder();
            hcl.append("""
                    name                 = "%s"
                    data_dir             = "%s"
                    bind_addr            = "%s"
                    log_level            = "DEBUG"
                    disable_update_check = true

                    advertise {
                      http = "%s"
                      rpc  = "%s"
                      serf = "%s"
                    }

                    consul {
                      auto_advertise   = false
                      server_auto_join = false
                      client_auto_join = false
                    }
                    """.formatted(netns, dir.resolve("data"), ip, ip, ip, ip));
            if (!client) {
                hcl.append("""

                        server {
                          enabled          = true
                          bootstrap_expect = 1
                        }

                        client {
                          enabled = false
                        }
                        """);
                return hcl.toString();
            }
            Path repo = TestEnv.repo();
            hcl.append("""

                    plugin_dir = "%s"

                    server {
                      enabled = false
                    }

                    client {
                      enabled           = true
                      servers           = ["%s:4647"]
                      network_interface = "%s"
                      # Each client its own cpuset cgroup parent: two Nomad clients on one kernel.
                      cgroup_parent     = "/%s"
                      options = {
                        "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
                      }
                    }

                    plugin "nomad-driver-mirage" {
                      config {
                        log_level          = "debug"
                        state_dir          = "%s"
                        solo5_hvt          = "%s"
                        solo5_spt          = "%s"
                        image_paths        = ["%s"]
                        fingerprint_period = "5s"
                        dynamic_user_min   = %d
                        dynamic_user_max   = %d
                      }
                    }
                    """.formatted(dir.resolve("plugins"), server().ip, LAB_IF, netns, stateDir(),
                    repo.resolve("target/fixtures/bin/solo5-hvt"), repo.resolve("target/fixtures/bin/solo5-spt"),
                    TestEnv.fixtures().resolve("images"), uidBase, uidBase + 99));
            return hcl.toString();
        }

        private void launch() throws IOException {
            Files.createDirectories(dir.resolve("data"));
            Files.createDirectories(dir.resolve("tmp"));
            if (client) {
                Files.createDirectories(dir.resolve("plugins"));
                Files.createSymbolicLink(dir.resolve("plugins/nomad-driver-mirage"), TestEnv.launcher());
            }
            Path config = dir.resolve("agent.hcl");
            Files.writeString(config, config(), StandardCharsets.UTF_8);
            // setsid: the agent leads a process group of its own (no fork: a JVM child is no group
            // leader); nsenter --net only, so that Nomad sees the host's /sys/fs/cgroup (ip netns exec
            // would mount a fresh /sys).
            ProcessBuilder builder = new ProcessBuilder("setsid", "nsenter", "--net=/run/netns/" + netns, "--",
                    nomad.toString(), "agent", "-config", config.toString());
            builder.directory(dir.toFile());
            builder.environment().put("TMPDIR", dir.resolve("tmp").toString());
            builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile().toFile()));
            builder.redirectErrorStream(true);
            process = builder.start();
        }

        private void stop() throws IOException, InterruptedException {
            if (process == null || !process.isAlive()) {
                return;
            }
            NomadAgent.run(List.of("kill", "-INT", Long.toString(process.pid())), Duration.ofSeconds(10));
            if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                NomadAgent.run(List.of("kill", "-KILL", "--", "-" + process.pid()), Duration.ofSeconds(10));
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private final String prefix;
    private final String lab;
    private final Path root;
    private final Path nomad;
    private final List<Node> nodes = new ArrayList<>();
    private final List<String> namespaces = Collections.synchronizedList(new ArrayList<>());
    private volatile String finalLogs;

    private NomadCluster(Path root, Path nomad) {
        this.prefix = "mg-cl-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(4);
        this.lab = prefix + "-lab";
        this.root = root;
        this.nomad = nomad;
        // 100 uids per client, at a random place in 81000-88999: disjoint between the two clients, and
        // unlikely to meet the uids of other test runs on this machine (they start at 80000).
        int uids = 81000 + 200 * ThreadLocalRandom.current().nextInt(40);
        nodes.add(new Node("server", LAB_PREFIX + ".10", false, 0));
        nodes.add(new Node("c1", LAB_PREFIX + ".11", true, uids));
        nodes.add(new Node("c2", LAB_PREFIX + ".12", true, uids + 100));
    }

    /**
     * Builds the lab network, starts the three agents and waits until both clients are ready with the
     * mirage driver healthy. Needs root and the Nomad binary ({@code MIRAGE_NOMAD}, else
     * {@code scripts/build-nomad.sh}'s cached one).
     */
    public static NomadCluster start() throws IOException, InterruptedException {
        TestEnv.requireRoot("the cluster test needs root (network namespaces, Nomad clients)");
        Path nomad = nomadBinary();
        ScratchDir root = ScratchDir.create("mirage-cluster-");
        NomadCluster cluster = new NomadCluster(root.path(), nomad);
        try {
            cluster.buildLab();
            for (Node node : cluster.nodes) {
                node.launch();
            }
            cluster.awaitReady();
            return cluster;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            String logs = cluster.logTails();
            try {
                cluster.close();
            } catch (Exception | AssertionError suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof AssertionError a) {
                AssertionError withLogs = new AssertionError(a.getMessage() + "\n" + logs, a);
                throw withLogs;
            }
            throw e;
        }
    }

    private static Path nomadBinary() throws IOException, InterruptedException {
        String env = System.getenv("MIRAGE_NOMAD");
        if (env != null && !env.isEmpty()) {
            return Path.of(env).toAbsolutePath();
        }
        Result built = NomadAgent.run(List.of(TestEnv.repo().resolve("scripts/build-nomad.sh").toString()),
                Duration.ofMinutes(10));
        if (!built.ok()) {
            throw new AssertionError("scripts/build-nomad.sh failed: " + built);
        }
        return Path.of(built.stdout().strip());
    }

    private void buildLab() throws IOException, InterruptedException {
        host("ip", "netns", "add", lab);
        namespaces.add(lab);
        host("ip", "-n", lab, "link", "set", "lo", "up");
        host("ip", "-n", lab, "link", "add", "lab0", "type", "bridge");
        host("ip", "-n", lab, "link", "set", "lab0", "up");
        for (Node node : nodes) {
            host("ip", "netns", "add", node.netns);
            namespaces.add(node.netns);
            host("ip", "-n", node.netns, "link", "set", "lo", "up");
            String port = "p-" + node.name;
            // Made inside the lab namespace, the peer moved straight into the node's.
            host("ip", "-n", lab, "link", "add", port, "type", "veth", "peer", "name", LAB_IF, "netns",
                    node.netns);
            host("ip", "-n", lab, "link", "set", port, "master", "lab0", "up");
            host("ip", "-n", node.netns, "addr", "add", node.ip + "/24", "dev", LAB_IF);
            host("ip", "-n", node.netns, "link", "set", LAB_IF, "up");
        }
    }

    private void awaitReady() throws InterruptedException {
        NomadAgent.await("both clients ready with the mirage driver healthy", START_TIMEOUT, () -> {
            for (Node node : nodes) {
                if (!node.running()) {
                    throw new AssertionError("agent " + node + " exited (" + node.process.exitValue() + ")\n"
                            + node.logTail(LOG_TAIL_LINES));
                }
            }
            try {
                Result result = server().exec(nomad.toString(), "node", "status", "-json");
                if (!result.ok()) {
                    return false;
                }
                int ready = 0;
                for (JsonNode stub : JSON.readTree(result.stdout())) {
                    JsonNode driver = stub.path("Drivers").path("mirage");
                    if (stub.path("Status").asText().equals("ready") && driver.path("Detected").asBoolean()
                            && driver.path("Healthy").asBoolean()) {
                        ready++;
                    }
                }
                return ready == 2;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }, () -> quietly(() -> server().exec(nomad.toString(), "node", "status").toString()));
    }

    // --- access -----------------------------------------------------------------------------

    public Node server() {
        return nodes.get(0);
    }

    public List<Node> clients() {
        return List.of(nodes.get(1), nodes.get(2));
    }

    public String serverAddr() {
        return "http://" + server().ip + ":4646";
    }

    /** The client whose Nomad node id is {@code nodeId}. */
    public Node clientById(String nodeId) throws IOException, InterruptedException {
        for (Node client : clients()) {
            if (nodeId(client).equals(nodeId)) {
                return client;
            }
        }
        throw new AssertionError("no client of this cluster has node id " + nodeId);
    }

    /** The Nomad node id of a client (by its node name). */
    public String nodeId(Node client) throws IOException, InterruptedException {
        for (JsonNode stub : json("node", "status", "-json")) {
            if (stub.path("Name").asText().equals(client.nodeName())) {
                return stub.path("ID").asText();
            }
        }
        throw new AssertionError("node " + client.nodeName() + " is not registered");
    }

    /** {@code nomad ARGS}, run in the server's namespace against the server; stdout, must exit 0. */
    public String nomad(String... args) throws IOException, InterruptedException {
        Result result = tryNomad(args);
        if (!result.ok()) {
            throw new AssertionError("nomad command failed: " + result);
        }
        return result.stdout();
    }

    public Result tryNomad(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of(nomad.toString()));
        argv.addAll(List.of(args));
        return server().exec(argv.toArray(String[]::new));
    }

    public JsonNode json(String... args) throws IOException, InterruptedException {
        String out = nomad(args);
        try {
            return JSON.readTree(out);
        } catch (IOException e) {
            throw new AssertionError("nomad " + String.join(" ", args) + " printed no JSON: " + out, e);
        }
    }

    /** The tails of all agent logs, for failure messages. */
    public String logTails() {
        if (finalLogs != null) {
            return finalLogs;
        }
        StringBuilder out = new StringBuilder();
        for (Node node : nodes) {
            out.append("---- last ").append(LOG_TAIL_LINES).append(" lines of ").append(node.logFile())
                    .append(" ----\n").append(node.logTail(LOG_TAIL_LINES)).append("\n---- end of log ----\n");
        }
        return out.toString();
    }

    // --- teardown -------------------------------------------------------------------------------

    @Override
    public void close() throws IOException, InterruptedException {
        finalLogs = logTails();
        List<String> problems = new ArrayList<>();
        // Clients first (a client shutting down leaves its tasks running; they are killed below).
        for (Node node : List.of(nodes.get(1), nodes.get(2), nodes.get(0))) {
            node.stop();
        }
        for (Node node : nodes) {
            if (namespaces.contains(node.netns)) {
                killLeftovers(node, problems);
            }
        }
        unmountUnder(root, problems);
        for (Node node : clients()) {
            removeCgroups(node.netns, problems);
        }
        for (String ns : List.copyOf(namespaces)) {
            Result deleted = NomadAgent.run(List.of("ip", "netns", "delete", ns), Duration.ofSeconds(30));
            if (deleted.ok()) {
                namespaces.remove(ns);
            } else {
                problems.add("cannot delete network namespace " + ns + ": " + deleted);
            }
        }
        try {
            ScratchDir.delete(root);
        } catch (IOException e) {
            problems.add("cannot remove " + root + ": " + e);
        }
        if (!problems.isEmpty()) {
            throw new AssertionError("cluster teardown left something behind:\n" + String.join("\n", problems));
        }
    }

    /** SIGKILLs every process still in the node's namespace (plugins, supervisors, tenders of this run). */
    private static void killLeftovers(Node node, List<String> problems) throws IOException, InterruptedException {
        for (int round = 0; round < 50; round++) {
            List<Long> pids = node.netnsPids();
            if (pids.isEmpty()) {
                return;
            }
            List<String> kill = new ArrayList<>(List.of("kill", "-KILL"));
            pids.forEach(p -> kill.add(Long.toString(p)));
            NomadAgent.run(kill, Duration.ofSeconds(10));
            Thread.sleep(100); // SIGKILL delivery has no event to await from here
        }
        problems.add("processes survive in " + node.netns + ": " + node.netnsPids());
    }

    /** Unmounts what Nomad mounted below DIR (secrets tmpfs and the like), deepest first. */
    private static void unmountUnder(Path dir, List<String> problems) throws IOException, InterruptedException {
        for (int round = 0; round < 5; round++) {
            List<String> targets = mountsUnder(dir);
            if (targets.isEmpty()) {
                return;
            }
            for (String target : targets) {
                Result result = NomadAgent.run(List.of("umount", "--", target), Duration.ofSeconds(10));
                if (!result.ok()) {
                    NomadAgent.run(List.of("umount", "-l", "--", target), Duration.ofSeconds(10));
                }
            }
        }
        List<String> left = mountsUnder(dir);
        if (!left.isEmpty()) {
            problems.add("still mounted below " + dir + ": " + left);
        }
    }

    private static List<String> mountsUnder(Path dir) throws IOException {
        String prefix = dir.toString();
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/mountinfo"))) {
            return lines.map(l -> l.split(" ")[4]).map(NomadCluster::unescapeMount)
                    .filter(t -> t.equals(prefix) || t.startsWith(prefix + "/")).distinct()
                    .sorted(Collections.reverseOrder()).toList();
        }
    }

    private static String unescapeMount(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length()) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** Removes the client's cgroup parent (cgroup_parent = /NETNS) in every v1 hierarchy, deepest first. */
    private static void removeCgroups(String parent, List<String> problems) throws IOException {
        Path base = Path.of("/sys/fs/cgroup");
        if (!Files.isDirectory(base)) {
            return;
        }
        List<Path> tops = new ArrayList<>();
        try (Stream<Path> hierarchies = Files.list(base)) {
            hierarchies.map(h -> h.resolve(parent)).filter(Files::isDirectory).forEach(tops::add);
        }
        Path v2 = base.resolve(parent);
        if (Files.isDirectory(v2) && !tops.contains(v2)) {
            tops.add(v2);
        }
        for (Path top : tops) {
            List<Path> dirs;
            try (Stream<Path> walk = Files.walk(top)) {
                dirs = walk.filter(Files::isDirectory).sorted(Collections.reverseOrder()).toList();
            }
            for (Path d : dirs) {
                try {
                    Files.delete(d); // rmdir: a cgroup directory goes with its control files
                } catch (IOException e) {
                    problems.add("cannot remove cgroup " + d + ": " + e);
                }
            }
        }
    }

    private static void host(String... argv) throws IOException, InterruptedException {
        Result result = NomadAgent.run(List.of(argv), COMMAND_TIMEOUT);
        if (!result.ok()) {
            throw new AssertionError("lab setup failed: " + result);
        }
    }

    /** Whether a namespace of this cluster still exists (for leak checks). */
    public List<String> namespaces() {
        return List.copyOf(namespaces);
    }

    public Path root() {
        return root;
    }
}
