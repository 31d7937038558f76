package nomadmirage;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.nio.file.Path;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.driver.Fingerprinter;
import nomadmirage.driver.HostCgroups;
import nomadmirage.driver.NodeCompute;
import nomadmirage.proc.NativeSupervisor;
import nomadmirage.proc.SupervisorService;
import nomadmirage.driver.ServiceStartPath;
import nomadmirage.driver.LaunchPlanner;
import nomadmirage.driver.NetworkService;
import nomadmirage.driver.TaskEventBus;
import nomadmirage.driver.TaskManager;
import nomadmirage.driver.TaskUserResolver;
import nomadmirage.driver.LocalHostInspector;
import nomadmirage.driver.MirageDriver;
import nomadmirage.goplugin.HandshakeConfig;
import nomadmirage.goplugin.HandshakeException;
import nomadmirage.goplugin.HostEnvironment;
import nomadmirage.goplugin.NativeTransport;
import nomadmirage.goplugin.PluginServer;
import nomadmirage.goplugin.ServeException;
import nomadmirage.log.JulBridge;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.nomad.BasePluginService;
import nomadmirage.nomad.DriverService;
import nomadmirage.proc.ProcessCommandRunner;

/** Composition root: operator commands, or the plugin server Nomad launches. */
public final class Main {
    /** Nomad's go-plugin handshake (plugins/base/plugin.go). */
    static final HandshakeConfig NOMAD_HANDSHAKE = new HandshakeConfig("NOMAD_PLUGIN_MAGIC_COOKIE",
            "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255", 2);

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0) {
            System.exit(OperatorCli.run(args, System.out, System.err));
        }
        System.exit(servePlugin(System.getenv(), System.err));
    }

    /** Serves until Nomad stops the plugin; returns 1 at once (go-plugin's status) when Nomad did not start us. */
    static int servePlugin(Map<String, String> env, PrintStream err) throws Exception {
        HostEnvironment host;
        try {
            host = HostEnvironment.from(env, NOMAD_HANDSHAKE);
        } catch (HandshakeException e) {
            err.println(e.getMessage());
            if (e.runDirectly()) {
                err.println();
                err.print(OperatorCli.usage());
            }
            return 1;
        }
        // Anything but the handshake line on stdout breaks the host, so the real
        // stdout is kept for that one line and System.out goes to stderr.
        PrintStream handshakeOut = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        ignoreInterrupts();

        LogSink sink = LogSink.stderr();
        Logger log = Logger.root("mirage", sink, LogLevel.INFO);
        // Before any Netty class is initialised: where Netty unpacks its native library.
        try {
            NativeTransport.chooseWorkDir(effectiveUid());
        } catch (ServeException e) {
            return refuseToServe(log, sink, e);
        }
        JulBridge.install(log.named("lib"));
        String version = BuildInfo.version();
        LocalHostInspector hostInspector = new LocalHostInspector(env.get("PATH"));
        ProcessCommandRunner commands = new ProcessCommandRunner();
        Path supervisorBinary = installHome().resolve("mirage-supervisor");
        SupervisorService supervisorService = new SupervisorService(supervisorBinary);
        NativeSupervisor supervisor = new NativeSupervisor(supervisorBinary, NativeSupervisor.DEFAULT_START_TIMEOUT,
                supervisorService);
        HostCgroups cgroups = new HostCgroups(CgroupLayout.detect());
        MirageDriver driver = new MirageDriver(
                new Fingerprinter(hostInspector, commands, version, cgroups),
                config -> new TaskManager(config, new LaunchPlanner(hostInspector), new TaskUserResolver(commands),
                        supervisor, new TaskEventBus(), new NetworkService(commands,
                                Optional.of(new ServiceStartPath(supervisorService)), log.named("network")), cgroups,
                        log.named("tasks")),
                log.named("driver"));
        DriverService driverService = new DriverService(driver, NodeCompute.detect(), log.named("grpc"));
        PluginServer server;
        try {
            server = PluginServer.start(host,
                    List.of(new BasePluginService(driver, version, log.named("grpc")), driverService),
                    driverService::closeStreams, log.named("goplugin"));
        } catch (ServeException | java.io.IOException e) {
            driver.close();
            return refuseToServe(log, sink, e);
        }

        handshakeOut.println(server.address().handshakeLine(host.negotiatedVersion()));
        handshakeOut.flush();
        log.info("plugin started", "version", version, "network", server.address().network(),
                "address", server.address().address(), "pid", ProcessHandle.current().pid());

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            driverService.closeStreams();
            server.shutdown(Duration.ofSeconds(1));
        }, "shutdown-hook"));
        server.awaitTermination();
        log.info("plugin stopped");
        driver.close();
        sink.close();
        return 0;
    }

    /**
     * The plugin cannot listen where the host can reach it and nobody else can: it says why at
     * error level (an hclog line the agent logs as an error) and exits 1 without a handshake line.
     */
    private static int refuseToServe(Logger log, LogSink sink, Exception e) {
        log.error("the plugin cannot serve and exits: " + e.getMessage());
        sink.flush(2000);
        return 1;
    }

    /** The effective uid, from /proc (-1 when unreadable, which counts as not root). */
    static int effectiveUid() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.split("\\s+")[2]);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Where the launcher, runtime and helper binaries are installed (set by the launcher). */
    static Path installHome() {
        String home = System.getProperty("mirage.home");
        if (home != null) {
            return Path.of(home);
        }
        try {
            return Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParent();
        } catch (java.net.URISyntaxException e) {
            return Path.of(".");
        }
    }

    /**
     * go-plugin hosts share our process group, so a Ctrl-C at the agent's
     * terminal reaches us too; like Go plugins we ignore it and let the host
     * decide when we stop.
     */
    private static void ignoreInterrupts() {
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> { });
    }
}
