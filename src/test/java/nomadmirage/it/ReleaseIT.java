package nomadmirage.it;

import static nomadmirage.testing.NomadAgent.clientStatus;
import static nomadmirage.testing.NomadAgent.describe;
import static nomadmirage.testing.NomadAgent.events;
import static nomadmirage.testing.NomadAgent.terminal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import nomadmirage.testing.NomadAgent;
import nomadmirage.testing.NomadAgent.Mode;
import nomadmirage.testing.NomadAgent.Result;
import nomadmirage.testing.TaskScript;
import nomadmirage.testing.TaskScript.Task;
import nomadmirage.testing.TestEnv;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The release tarball as an operator deploys it: unpacked into a fresh directory outside the
 * repository and run through a symlink, on what looks to the plugin like a node without a JDK and
 * without this repository (a private mount namespace hides {@code /usr/lib/jvm} and the repository;
 * PATH is the system's). The go-plugin client and a real Nomad agent each run a task with it.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ReleaseIT {
    private static final String SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    @RegisterExtension
    static final NomadAgent.Agents AGENTS = new NomadAgent.Agents();

    private static Path scratch;
    private static Path tree;
    private static Path linkedLauncher;
    private static Path withoutJdk;
    private static Path plugin;
    private static Path fixtures;

    @BeforeAll
    static void unpack() throws Exception {
        Path tarball = tarball();
        scratch = Files.createTempDirectory(Path.of("/tmp"), "mirage-release-");
        Files.setPosixFilePermissions(scratch, PosixFilePermissions.fromString("rwxr-xr-x"));
        assertFalse(scratch.startsWith(TestEnv.repo()), "scratch directory inside the repository");
        Path opt = Files.createDirectory(scratch.resolve("opt"));
        run(List.of("tar", "-C", opt.toString(), "-xzf", tarball.toString()));
        tree = opt.resolve("nomad-driver-mirage-" + version());

        // The launcher is linked, as into a plugin_dir: it must find its files through the link.
        Path links = Files.createDirectory(scratch.resolve("links"));
        linkedLauncher = Files.createSymbolicLink(links.resolve("nomad-driver-mirage"),
                tree.resolve("nomad-driver-mirage"));

        // The tenders and unikernels the tasks use, outside the repository too.
        fixtures = scratch.resolve("fixtures");
        run(List.of("cp", "-a", TestEnv.fixtures().toString(), fixtures.toString()));

        withoutJdk = scratch.resolve("without-jdk");
        Files.writeString(withoutJdk, """
                #!/bin/sh
                # Runs a command as on a node with no JDK and no checkout of the project: in a private
                # mount namespace, empty directories hide /usr/lib/jvm and the repository.
                exec unshare --mount --propagation private sh -c '
                  mount -t tmpfs -o mode=0755,size=1m none /usr/lib/jvm &&
                  mount -t tmpfs -o mode=0755,size=1m none "$0" &&
                  exec env -u JAVA_HOME -u MIRAGE_JAVA_OPTS PATH=%s "$@"' '%s' "$@"
                """.formatted(SYSTEM_PATH, TestEnv.repo()));
        Files.setPosixFilePermissions(withoutJdk, PosixFilePermissions.fromString("rwxr-xr-x"));
        plugin = scratch.resolve("nomad-driver-mirage");
        Files.writeString(plugin, "#!/bin/sh\nexec '%s' '%s' \"$@\"\n".formatted(withoutJdk, linkedLauncher));
        Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterAll
    static void removeScratch() throws IOException, InterruptedException {
        if (scratch != null) {
            run(List.of("rm", "-rf", "--one-file-system", scratch.toString()));
        }
    }

    private static String version() {
        return System.getProperty("mirage.version", "0.1.0");
    }

    private static Path tarball() {
        Path tarball = TestEnv.repo().resolve("target/nomad-driver-mirage-" + version() + "-linux-amd64.tar.gz");
        assertTrue(Files.isRegularFile(tarball), "missing " + tarball + " (./mvnw package builds it)");
        return tarball;
    }

    // --- the tarball itself --------------------------------------------------------------------

    @Test
    void tarballMatchesItsChecksumFile() throws Exception {
        Path tarball = tarball();
        String line = Files.readString(Path.of(tarball + ".sha256")).strip();
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(tarball));
        assertEquals(HexFormat.of().formatHex(digest) + "  " + tarball.getFileName(), line);
    }

    @Test
    void everythingButTheLauncherSitsInLibexecAndTheSupervisorIsStatic() throws Exception {
        List<String> top;
        try (Stream<Path> entries = Files.list(tree)) {
            top = entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
        // Nomad's plugin loader skips directories in plugin_dir: the tree may be copied there whole.
        assertEquals(List.of("libexec", "nomad-driver-mirage"), top);
        Path libexec = tree.resolve("libexec");
        for (String file : List.of("runtime/bin/java", "mirage-supervisor", "nomad-driver-mirage-" + version() + ".jar",
                "app.aot")) {
            assertTrue(Files.exists(libexec.resolve(file)), "missing libexec/" + file);
        }
        assertFalse(hasInterpreter(libexec.resolve("mirage-supervisor")),
                "mirage-supervisor is dynamically linked (it has a PT_INTERP program header)");
        Result tarList = run(List.of("tar", "-tvzf", tarball().toString()));
        for (String entry : tarList.stdout().lines().toList()) {
            assertTrue(entry.contains(" 0/0 "), "entry not owned by root: " + entry);
            assertTrue(entry.contains(" nomad-driver-mirage-" + version() + "/"), "entry outside the top directory: " + entry);
        }
    }

    // --- a node without a JDK --------------------------------------------------------------------

    @Test
    void theConfinedNodeHasNoJavaAndNoRepository() throws Exception {
        Result java = run(List.of(withoutJdk.toString(), "sh", "-c", "java -version"), true);
        assertNotEquals(0, java.exitCode(), "java runs in the confined namespace: " + java);
        Result repo = run(List.of(withoutJdk.toString(), "ls", "-A", TestEnv.repo().toString()));
        assertEquals("", repo.stdout().strip(), "the repository is visible in the confined namespace");
    }

    @Test
    void unpackedLauncherRunsAndUsesItsAotCacheAfterRelocation() throws Exception {
        Result version = run(List.of(withoutJdk.toString(), linkedLauncher.toString(), "version"));
        assertEquals("nomad-driver-mirage " + version(), version.stdout().strip());
        // The confinement clears MIRAGE_JAVA_OPTS; set it again inside, for the launcher only.
        Result classes = run(List.of(withoutJdk.toString(), "env", "MIRAGE_JAVA_OPTS=-Xlog:class+load=info:stdout",
                linkedLauncher.toString(), "version"));
        assertTrue(classes.stdout().contains("nomadmirage.Main source: shared objects file"),
                "nomadmirage.Main did not come from the AOT cache after relocation:\n"
                        + classes.stdout().lines().filter(l -> l.contains("nomadmirage.Main ")).toList());
    }

    /**
     * The cache was trained on whole task lifecycles (nomadmirage.release.AotTraining), not only on the
     * handshake: a class only a StartTask loads is in it, and the launcher has the JIT compile what the
     * training compiled at its first call.
     */
    @Test
    void theAotCacheHoldsTheStartPathAndTheJitCompilesItsMethodsEagerly() throws Exception {
        Result classes = run(List.of(withoutJdk.toString(), "env", "MIRAGE_JAVA_OPTS=-Xlog:class+load=info:stdout",
                linkedLauncher.toString(), "version"));
        assertTrue(classes.stdout().contains("nomadmirage.tender.TenderCommand source: shared objects file"),
                "the tender's command line builder (used by StartTask only) is not in the AOT cache:\n"
                        + classes.stdout().lines().filter(l -> l.contains("nomadmirage.tender.")).toList());
        Result flags = run(List.of(withoutJdk.toString(), "env", "MIRAGE_JAVA_OPTS=-XX:+PrintFlagsFinal",
                linkedLauncher.toString(), "version"));
        assertTrue(flags.stdout().lines().anyMatch(l -> l.matches("\\s*bool AOTCompileEagerly\\s+= true\\s.*")),
                "the launcher does not ask for AOTCompileEagerly:\n"
                        + flags.stdout().lines().filter(l -> l.contains("AOT")).toList());
    }

    @Test
    void goPluginClientRunsATaskWithTheUnpackedPlugin() throws Exception {
        Path work = Files.createDirectory(scratch.resolve("probe"));
        TaskScript.readable(work);
        Path allocs = Files.createDirectory(work.resolve("allocs"));
        TaskScript.readable(allocs);
        Task task = Task.create(allocs, "hello", fixtures.resolve("images/standin-hello.hvt"))
                .args("--standin-print=from-the-tarball", "--standin-exit=3");
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("state_dir", work.resolve("state").toString());
        config.put("solo5_hvt", fixtures.resolve("bin/solo5-hvt").toString());
        config.put("solo5_spt", fixtures.resolve("bin/solo5-spt").toString());
        config.put("default_user", "nobody");
        List<String> log = new ArrayList<>();
        TaskScript.Result r = new TaskScript(config).launch()
                .start("start", task)
                .waitTask("wait", task, "30s")
                .destroy("destroy", task, false)
                .run(work, plugin, log::add);

        assertEquals("running", r.ok("start").at("/handle/state").textValue(), r.toString());
        assertEquals(3, r.ok("wait").get("exit_code").intValue(), r.toString());
        r.ok("destroy");
        assertTrue(task.stdoutText().contains("from-the-tarball"), task.stdoutText());
        assertTrue(task.stdoutText().contains("Solo5: solo5_exit(3) called"), task.stdoutText());
    }

    @Test
    void nomadAgentRunsAJobWithTheUnpackedPlugin() throws Exception {
        Path config = scratch.resolve("plugin.hcl");
        Files.writeString(config, """
                plugin "nomad-driver-mirage" {
                  config {
                    state_dir   = "@RUN_DIR@/mirage-state"
                    solo5_hvt   = "%1$s/bin/solo5-hvt"
                    solo5_spt   = "%1$s/bin/solo5-spt"
                    image_paths = ["%1$s/images"]
                  }
                }
                """.formatted(fixtures));
        NomadAgent agent = AGENTS.start(Mode.DEV, config, plugin);
        JsonNode attributes = agent.selfNode().path("Attributes");
        assertEquals(version(), attributes.path("driver.mirage.version").asText(), attributes.toString());
        assertEquals("1.6.3", attributes.path("nomad.version").asText(), attributes.toString());

        agent.runJob(TestEnv.repo().resolve("src/test/resources/jobs/hvt-exit.nomad.hcl"),
                Map.of("image", fixtures.resolve("images/standin-hello.hvt").toString()));
        JsonNode alloc = agent.awaitAllocStatus("hvt-exit", terminal(), Duration.ofSeconds(60));
        String detail = describe(alloc);
        assertEquals("failed", clientStatus(alloc), detail);
        assertEquals("3", events(alloc, "hello", "Terminated").getFirst().path("Details").path("exit_code").asText(),
                detail);
        String logs = agent.logs(alloc.path("ID").asText(), "hello");
        assertTrue(logs.contains("hello from hvt"), "console:\n" + logs);
    }

    /** Whether an ELF64 little-endian executable names a program interpreter (is dynamically linked). */
    private static boolean hasInterpreter(Path elf) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(elf)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x464c457f, b.getInt(0), "not an ELF file: " + elf);
        long phoff = b.getLong(0x20);
        int phentsize = Short.toUnsignedInt(b.getShort(0x36));
        int phnum = Short.toUnsignedInt(b.getShort(0x38));
        assertTrue(phnum > 0, "no program headers in " + elf);
        for (int i = 0; i < phnum; i++) {
            if (b.getInt((int) (phoff + (long) i * phentsize)) == 3) { // PT_INTERP
                return true;
            }
        }
        return false;
    }

    private static Result run(List<String> argv) throws IOException, InterruptedException {
        return run(argv, false);
    }

    private static Result run(List<String> argv, boolean mayFail) throws IOException, InterruptedException {
        Result result = NomadAgent.run(argv, Duration.ofSeconds(60));
        if (!mayFail && !result.ok()) {
            throw new UncheckedIOException(new IOException(result.toString()));
        }
        return result;
    }
}
