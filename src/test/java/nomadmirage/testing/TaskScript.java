package nomadmirage.testing;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A script for the plugin-probe's {@code tasks} scenario (see
 * testbed/cmd/plugin-probe/scenario_tasks.go for the format): steps run in
 * order against plugin instances launched like the Nomad agent launches them,
 * with task handles kept like the agent keeps them. Also lays out alloc
 * directories the way the Nomad client does.
 */
public final class TaskScript {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ObjectNode root = JSON.createObjectNode();
    private final ArrayNode steps = root.putArray("steps");
    private final List<Path> gateReleases = new ArrayList<>();

    public TaskScript(Map<String, Object> pluginConfig) {
        root.set("config", JSON.valueToTree(pluginConfig));
    }

    /** A generic step: {@code op}, optional {@code label} (null for none) and field/value pairs. */
    public TaskScript step(String op, String label, Object... fields) {
        ObjectNode step = steps.addObject().put("op", op);
        if (label != null) {
            step.put("label", label);
        }
        for (int i = 0; i < fields.length; i += 2) {
            step.set((String) fields[i], JSON.valueToTree(fields[i + 1]));
        }
        return this;
    }

    public TaskScript launch() {
        return step("launch", null);
    }

    public TaskScript killPlugin(String label) {
        return step("kill_plugin", label);
    }

    /** Schedules a SIGKILL of the current plugin {@code delay} from now and goes on: a crash during the next step. */
    public TaskScript killPluginAfter(String label, String delay) {
        return step("kill_plugin", label, "delay", delay);
    }

    /** Creates the file (the script tells the test it got here). */
    public TaskScript touch(String label, Path path) {
        return step("touch", label, "path", path.toString());
    }

    /**
     * A point where the script stops until the test lets it go on: creates
     * {@code <dir>/<name>.reached}, then waits (up to {@code timeout}) for {@code <dir>/<name>.go}.
     */
    public TaskScript gate(Path dir, String name, String timeout) {
        Path go = dir.resolve(name + ".go");
        gateReleases.add(go);
        return touch("gate-" + name, dir.resolve(name + ".reached"))
                .awaitFile("gate-" + name + "-go", go, null, timeout);
    }

    /** The files that let the script past each of its gates. */
    public List<Path> gateReleases() {
        return List.copyOf(gateReleases);
    }

    /** Leaves the tasks still known at the end alone instead of force-destroying them. */
    public TaskScript noCleanup() {
        root.put("cleanup", false);
        return this;
    }

    public TaskScript shutdownPlugin(String label) {
        return step("shutdown_plugin", label);
    }

    public TaskScript start(String label, Task task) {
        steps.addObject().put("op", "start").put("label", label).set("task", task.toJson());
        return this;
    }

    /** Starts all tasks at once (labels {@code labelPrefix + index}), as several allocations' task runners would. */
    public TaskScript startInParallel(String labelPrefix, List<Task> tasks) {
        ObjectNode parallel = steps.addObject().put("op", "parallel").put("label", labelPrefix + "all");
        var nested = parallel.putArray("steps");
        for (int i = 0; i < tasks.size(); i++) {
            nested.addObject().put("op", "start").put("label", labelPrefix + i).set("task", tasks.get(i).toJson());
        }
        return this;
    }

    public TaskScript waitTask(String label, Task task, String timeout) {
        return step("wait", label, "task_id", task.id, "timeout", timeout);
    }

    /** Opens WaitTask without waiting, as the task runner does right after StartTask; {@link #join} collects it. */
    public TaskScript waitAsync(String label, Task task) {
        return step("wait", label, "task_id", task.id, "async", true);
    }

    public TaskScript join(String label, String asyncLabel, String timeout) {
        return step("join", label, "ref", asyncLabel, "timeout", timeout);
    }

    public TaskScript stop(String label, Task task, String timeout, String signal) {
        return step("stop", label, "task_id", task.id, "timeout", timeout, "signal", signal);
    }

    public TaskScript destroy(String label, Task task, boolean force) {
        return step("destroy", label, "task_id", task.id, "force", force);
    }

    public TaskScript signal(String label, Task task, String signal) {
        return step("signal", label, "task_id", task.id, "signal", signal);
    }

    public TaskScript inspect(String label, Task task) {
        return step("inspect", label, "task_id", task.id);
    }

    public TaskScript stats(String label, Task task, String interval, int count) {
        return step("stats", label, "task_id", task.id, "interval", interval, "count", count, "timeout", "20s");
    }

    public TaskScript recover(String label, Task task, boolean stripDriverConfig) {
        return step("recover", label, "task_id", task.id, "strip_driver_config", stripDriverConfig);
    }

    /**
     * RecoverTask of {@code task} with a crafted handle, as a tampered state DB would hand it back: the
     * stored (stripped) handle of {@code handleOf}, its config id set to {@code task}'s, and, unless
     * {@code driverStateFile} is null, the driver state bytes read from that file when the step runs.
     */
    public TaskScript recoverCrafted(String label, Task task, Task handleOf, Path driverStateFile) {
        return driverStateFile == null
                ? step("recover", label, "task_id", task.id, "handle_of", handleOf.id, "strip_driver_config", true)
                : step("recover", label, "task_id", task.id, "handle_of", handleOf.id, "strip_driver_config", true,
                        "driver_state_file", driverStateFile.toString());
    }

    /** Writes the driver state bytes of the task's stored handle to {@code path}. */
    public TaskScript saveHandle(String label, Task task, Path path) {
        return step("save_handle", label, "task_id", task.id, "path", path.toString());
    }

    /** Until the file exists and (unless {@code contains} is null) contains the text. */
    public TaskScript awaitFile(String label, Path path, String contains, String timeout) {
        return contains == null
                ? step("await_file", label, "path", path.toString(), "timeout", timeout)
                : step("await_file", label, "path", path.toString(), "contains", contains, "timeout", timeout);
    }

    public TaskScript awaitEvent(String label, Task task, String contains, String timeout) {
        return step("await_event", label, "task_id", task.id, "contains", contains, "timeout", timeout);
    }

    public String json() {
        return root.toPrettyString();
    }

    /** Writes the script into {@code dir} and runs the probe on it. */
    public Result run(Path dir) throws IOException, InterruptedException {
        return run(dir, TestEnv.launcher(), line -> { });
    }

    /** As {@link #run(Path)}, launching {@code plugin} instead of the launcher and handing each log line to {@code onLogLine}. */
    public Result run(Path dir, Path plugin, java.util.function.Consumer<String> onLogLine)
            throws IOException, InterruptedException {
        Path file = Files.createTempFile(dir, "script", ".json");
        Files.writeString(file, json());
        JsonNode out = Probe.run(plugin, "tasks", onLogLine, "-script", file.toString(), "-timeout", "150s");
        assertTrue(out.get("script_error").isNull(), "bad script: " + out.get("script_error"));
        assertTrue(out.get("aborted").isNull(), "the script was aborted: " + out.get("aborted") + "\n" + out);
        return new Result(out);
    }

    /** The probe's output. */
    public static final class Result {
        public final JsonNode out;

        Result(JsonNode out) {
            this.out = out;
        }

        /** The result of the step with this label. */
        public JsonNode step(String label) {
            for (JsonNode s : out.get("steps")) {
                if (label.equals(s.path("label").asText())) {
                    return s;
                }
                for (JsonNode nested : s.path("results")) {
                    if (label.equals(nested.path("label").asText())) {
                        return nested;
                    }
                }
            }
            return fail("no step labelled " + label + " in " + out);
        }

        /** The step's result, asserting that its RPC succeeded. */
        public JsonNode ok(String label) {
            JsonNode s = step(label);
            assertTrue(s.get("error").isNull(), label + " failed: " + s);
            assertTrue(!s.get("timed_out").asBoolean(), label + " timed out: " + s);
            return s;
        }

        /** The step's error message, asserting there was one. */
        public String error(String label) {
            JsonNode s = step(label);
            assertNotNull(s.get("error").textValue(), label + " should have failed: " + s);
            return s.get("error").textValue();
        }

        public JsonNode plugin(int index) {
            return out.get("plugins").get(index);
        }

        /** Event messages of one plugin instance for one task, in arrival order. */
        public List<String> events(int plugin, Task task) {
            List<String> messages = new ArrayList<>();
            for (JsonNode e : plugin(plugin).get("events")) {
                if (e.get("task_id").asText().equals(task.id)) {
                    messages.add(e.get("message").asText());
                }
            }
            return messages;
        }

        @Override
        public String toString() {
            return out.toPrettyString();
        }
    }

    /**
     * One task of an allocation, laid out as the Nomad client lays it out:
     * {@code <alloc_dir>/alloc/{data,logs,tmp}} shared, {@code <alloc_dir>/<task>/{local,secrets,tmp,private}},
     * console output in {@code alloc/logs} (plain files here instead of logmon's FIFOs).
     */
    public static final class Task {
        public final String id;
        public final String name;
        public final String allocId;
        public final Path allocDir;
        public final Path taskDir;
        public final Path stdout;
        public final Path stderr;
        private final Map<String, Object> config = new LinkedHashMap<>();
        private long memoryMb = 32;
        private long memoryMaxMb;
        private long cpuShares = 100;
        private String cpusetCpus = "";
        private String cpusetCgroup = "";
        private String user;
        private final List<Map<String, Object>> ports = new ArrayList<>();
        private final Map<String, String> env = new LinkedHashMap<>();

        private Task(Path allocsRoot, String name) throws IOException {
            this.allocId = UUID.randomUUID().toString();
            this.name = name;
            this.id = allocId + "/" + name + "/" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
            this.allocDir = allocsRoot.resolve(allocId);
            this.taskDir = allocDir.resolve(name);
            for (Path dir : List.of(allocDir, allocDir.resolve("alloc"), allocDir.resolve("alloc/data"),
                    allocDir.resolve("alloc/logs"), allocDir.resolve("alloc/tmp"), taskDir, taskDir.resolve("local"),
                    taskDir.resolve("secrets"), taskDir.resolve("tmp"), taskDir.resolve("private"))) {
                Files.createDirectories(dir);
                readable(dir);
            }
            this.stdout = allocDir.resolve("alloc/logs/" + name + ".stdout.0");
            this.stderr = allocDir.resolve("alloc/logs/" + name + ".stderr.0");
        }

        /** A task in a new allocation under {@code allocsRoot} with {@code image} copied to {@code local/} (0644). */
        public static Task create(Path allocsRoot, String name, Path image) throws IOException {
            Task task = new Task(allocsRoot, name);
            if (image != null) {
                Path copy = task.taskDir.resolve("local").resolve(image.getFileName());
                Files.copy(image, copy, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
                task.config.put("unikernel", "local/" + image.getFileName());
            }
            return task;
        }

        /** Sets a key of the job's {@code config {}} (blocks as lists of maps). */
        public Task config(String key, Object value) {
            if (value == null) {
                config.remove(key);
            } else {
                config.put(key, value);
            }
            return this;
        }

        public Task args(String... args) {
            return config("args", List.of(args));
        }

        public Task memoryMb(long mb) {
            this.memoryMb = mb;
            return this;
        }

        /** Nomad's CPU shares for the task (its {@code cpu} in MHz). */
        public Task cpu(long shares) {
            this.cpuShares = shares;
            return this;
        }

        public Task memoryMaxMb(long mb) {
            this.memoryMaxMb = mb;
            return this;
        }

        /** The cores Nomad reserved ({@code cpuset_cpus}) and the cpuset cgroup it made for them ("" for none). */
        public Task cores(String cpus, String cgroup) {
            this.cpusetCpus = cpus;
            this.cpusetCgroup = cgroup;
            return this;
        }

        public Task user(String user) {
            this.user = user;
            return this;
        }

        /** Adds a variable to the task's environment (Nomad's own NOMAD_* ones are always there). */
        public Task env(String name, String value) {
            env.put(name, value);
            return this;
        }

        /** A port Nomad allocated to the task's group: {@code value} on the host, {@code to} in the task (0: same). */
        public Task port(String label, int value, int to) {
            ports.add(Map.of("label", label, "value", value, "to", to, "host_ip", ""));
            return this;
        }

        public String stdoutText() throws IOException {
            return Files.exists(stdout) ? Files.readString(stdout, StandardCharsets.UTF_8) : "";
        }

        public String stderrText() throws IOException {
            return Files.exists(stderr) ? Files.readString(stderr, StandardCharsets.UTF_8) : "";
        }

        /** The run directory the driver keeps for this task under its state_dir. */
        public Path runDir(Path stateDir) {
            StringBuilder out = new StringBuilder();
            for (char c : id.toCharArray()) {
                out.append(Character.isLetterOrDigit(c) || c == '-' || c == '_' ? c : '.');
            }
            return stateDir.resolve("tasks").resolve(out.toString());
        }

        ObjectNode toJson() {
            ObjectNode t = JSON.createObjectNode()
                    .put("id", id).put("name", name).put("alloc_id", allocId)
                    .put("job_name", "example").put("group", "group").put("namespace", "default")
                    .put("alloc_dir", allocDir.toString())
                    .put("stdout_path", stdout.toString()).put("stderr_path", stderr.toString())
                    .put("memory_mb", memoryMb).put("memory_max_mb", memoryMaxMb).put("cpu_shares", cpuShares)
                    .put("cpuset_cpus", cpusetCpus).put("cpuset_cgroup", cpusetCgroup);
            if (user != null) {
                t.put("user", user);
            }
            ObjectNode environment = t.putObject("env").put("NOMAD_TASK_NAME", name).put("NOMAD_ALLOC_ID", allocId);
            env.forEach(environment::put);
            if (!ports.isEmpty()) {
                t.set("ports", JSON.valueToTree(ports));
            }
            t.set("config", JSON.valueToTree(config));
            return t;
        }
    }

    /**
     * The driver state inside a handle's {@code driver_state} as the probe shows it: the plugin seals
     * it (a JSON envelope whose "state" is the state's JSON as a string, next to its "mac"); an
     * unsealed state is returned as it is.
     */
    public static JsonNode driverState(JsonNode handleDriverState) {
        JsonNode inner = handleDriverState.path("state");
        if (!inner.isTextual()) {
            return handleDriverState;
        }
        try {
            return JSON.readTree(inner.textValue());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Makes a directory or file readable (and directories traversable) by the unprivileged task user. */
    public static void readable(Path path) throws IOException {
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(
                Files.isDirectory(path) ? "rwxr-xr-x" : "rw-r--r--"));
    }

    /** Pids of live processes whose command line mentions {@code text} (leak checks). */
    public static List<String> processesMentioning(String text) {
        List<String> found = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    byte[] raw = Files.readAllBytes(p.resolve("cmdline"));
                    String cmdline = new String(raw, StandardCharsets.UTF_8).replace('\0', ' ');
                    if (cmdline.contains(text)) {
                        found.add(p.getFileName() + ": " + cmdline.strip());
                    }
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return found;
    }
}
