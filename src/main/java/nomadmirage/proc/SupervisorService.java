package nomadmirage.proc;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The plugin's end of {@code mirage-supervisor --serve} (src/main/c/serve.c): one long-lived root
 * helper that forks supervisors, signals and watches processes through pidfds and creates taps, so
 * that none of these costs the exec of a program (the JDK's own spawn execs a helper first). It is
 * started on first use and again after it ended; supervisors it forked outlive it, and whoever waited
 * for one of them is told the service ended so that it can watch the supervisor again.
 */
public final class SupervisorService implements AutoCloseable {
    private final List<String> command;
    private final AtomicLong ids = new AtomicLong();
    private final Object lifecycle = new Object();
    private Running running;

    /** A launch: the supervisor's pid, its first stdout line, then its exit code. */
    public record Launch(String id, CompletableFuture<ProcessIdentity> forked, CompletableFuture<String> report,
            CompletableFuture<Integer> exited) {
    }

    public SupervisorService(Path binary) {
        this(List.of(binary.toAbsolutePath().toString()));
    }

    /** @param command the binary, possibly behind a prefix such as {@code ip netns exec NS} */
    public SupervisorService(List<String> command) {
        List<String> all = new ArrayList<>(command);
        all.add("--serve");
        this.command = List.copyOf(all);
    }

    /** Forks a supervisor with these arguments (a classic supervisor command line without the program). */
    public Launch launch(List<String> args) throws IOException {
        String id = nextId();
        Launch launch = new Launch(id, new CompletableFuture<>(), new CompletableFuture<>(), new CompletableFuture<>());
        StringBuilder payload = new StringBuilder();
        for (String arg : args) {
            if (arg.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("a supervisor argument holds a NUL character");
            }
            payload.append(arg).append('\0');
        }
        byte[] bytes = payload.toString().getBytes(StandardCharsets.UTF_8);
        send(id, new LaunchReplies(launch), ("launch " + id + " " + bytes.length + "\n").getBytes(StandardCharsets.UTF_8),
                bytes);
        return launch;
    }

    /** SIGTERM to a launched supervisor while the service still holds it; false when it is gone. */
    public CompletableFuture<Boolean> terminate(Launch launch) throws IOException {
        return single("term " + launch.id()).thenApply("ok"::equals);
    }

    /**
     * Sends a signal to the process only if it still is the one that started at {@code startTicks}:
     * 0 sent, 3 gone, 1 failed.
     */
    public CompletableFuture<Integer> signal(int signo, ProcessIdentity target) throws IOException {
        return single("signal %s " + signo + " " + target.pid() + " " + target.startTicks()).thenApply(reply -> {
            if (!reply.startsWith("signal ")) {
                throw new IllegalStateException("unexpected reply to a signal request: " + reply);
            }
            return Integer.parseInt(reply.substring("signal ".length()).strip());
        });
    }

    /** Completes once the process has ended (at once if it already had, or is another process now). */
    public CompletableFuture<Void> watch(ProcessIdentity target) throws IOException {
        return single("watch %s " + target.pid() + " " + target.startTicks()).thenAccept(reply -> {
            if (!reply.equals("gone")) {
                throw new IllegalStateException("cannot watch " + target + ": " + reply);
            }
        });
    }

    /** Creates a persistent tap owned by uid/gid, with this MTU, up, on the bridge in hairpin mode. */
    public CompletableFuture<Void> createTap(String name, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws IOException {
        if (!name.matches("[A-Za-z0-9_.-]{1,15}") || !bridge.matches("[A-Za-z0-9_.-]{1,15}")) {
            throw new IllegalArgumentException("not an interface name: " + name + " / " + bridge);
        }
        return single("tap %s " + name + " " + bridge + " " + mtu + " " + uid.orElse(-1) + " " + gid.orElse(-1))
                .thenAccept(SupervisorService::ok);
    }

    /** Pins a tap to its MAC and IPv4 address in the bridge nomad_mirage sets (see NftGuestFilter). */
    public CompletableFuture<Void> pin(String tap, String mac, String ip) throws IOException {
        if (!tap.matches("[A-Za-z0-9_.-]{1,15}") || !mac.matches("[0-9a-fA-F:]{17}") || !ip.matches("[0-9.]{7,15}")) {
            throw new IllegalArgumentException("not a pin: " + tap + " " + mac + " " + ip);
        }
        return single("pin %s " + tap + " " + mac + " " + ip).thenAccept(SupervisorService::ok);
    }

    /**
     * Adds a port forward to the {@code ip nomad_mirage} maps (see NftForwards): true when added, false
     * when its key was taken already. {@code hostIp} 0.0.0.0 forwards every local address.
     */
    public CompletableFuture<Boolean> forward(String hostIp, String protocol, int hostPort, String guestIp,
            int guestPort) throws IOException {
        if (!hostIp.matches("[0-9.]{7,15}") || !guestIp.matches("[0-9.]{7,15}") || !protocol.matches("tcp|udp")
                || hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535) {
            throw new IllegalArgumentException("not a forward: " + hostIp + " " + protocol + " " + hostPort + " "
                    + guestIp + " " + guestPort);
        }
        return single("fwd %s " + hostIp + " " + protocol + " " + hostPort + " " + guestIp + " " + guestPort)
                .thenApply(reply -> {
                    if (reply.equals("ok")) {
                        return true;
                    }
                    if (reply.equals("exists") || reply.startsWith("exists ")) {
                        return false;
                    }
                    throw new IllegalStateException(reply.startsWith("error ") ? reply.substring(6) : reply);
                });
    }

    private static void ok(String reply) {
        if (!reply.equals("ok")) {
            throw new IllegalStateException(reply.startsWith("error ") ? reply.substring(6) : reply);
        }
    }

    private CompletableFuture<String> single(String format) throws IOException {
        String id = nextId();
        CompletableFuture<String> reply = new CompletableFuture<>();
        String header = (format.contains("%s") ? format.replace("%s", id) : format) + "\n";
        send(id, new SingleReply(reply), header.getBytes(StandardCharsets.UTF_8), new byte[0]);
        return reply;
    }

    private String nextId() {
        return Long.toString(ids.incrementAndGet());
    }

    private void send(String id, Replies replies, byte[] header, byte[] payload) throws IOException {
        Running service = running();
        service.conversations.put(id, replies);
        try {
            synchronized (service.stdin) {
                service.stdin.write(header);
                service.stdin.write(payload);
                service.stdin.flush();
            }
        } catch (IOException e) {
            service.conversations.remove(id);
            service.process.destroyForcibly();
            throw new IOException("the supervisor service (" + command.getFirst() + " --serve) is gone: "
                    + e.getMessage(), e);
        }
    }

    private Running running() throws IOException {
        synchronized (lifecycle) {
            if (running == null || !running.process.isAlive()) {
                ProcessBuilder builder = new ProcessBuilder(command)
                        .directory(new java.io.File("/"))
                        .redirectError(ProcessBuilder.Redirect.DISCARD);
                // What it forks inherits this: the tender's fixed environment, never the plugin's.
                builder.environment().clear();
                builder.environment().putAll(LaunchRequest.TENDER_ENVIRONMENT);
                Process process = builder.start();
                running = new Running(process, process.getOutputStream(), new ConcurrentHashMap<>());
                Running started = running;
                Thread.ofPlatform().daemon().name("supervisor-service-" + process.pid()).start(() -> read(started));
            }
            return running;
        }
    }

    private void read(Running service) {
        try (BufferedReader replies = new BufferedReader(
                new InputStreamReader(service.process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = replies.readLine()) != null) {
                int space = line.indexOf(' ');
                if (space < 0) {
                    continue;
                }
                Replies conversation = service.conversations.get(line.substring(0, space));
                if (conversation != null && conversation.accept(line.substring(space + 1))) {
                    service.conversations.remove(line.substring(0, space));
                }
            }
        } catch (IOException | RuntimeException e) {
            // Ends like EOF: every open conversation is told below.
        }
        service.process.destroyForcibly();
        IOException gone = new IOException("the supervisor service (" + command.getFirst() + " --serve) ended");
        service.conversations.values().forEach(c -> c.fail(gone));
        service.conversations.clear();
    }

    /** The running service's pid, -1 when none runs (for tests). */
    long pid() {
        synchronized (lifecycle) {
            return running != null && running.process.isAlive() ? running.process.pid() : -1;
        }
    }

    @Override
    public void close() {
        synchronized (lifecycle) {
            if (running != null) {
                try {
                    running.stdin.close();
                } catch (IOException ignored) {
                    // It ends at EOF or broken pipe alike.
                }
            }
        }
    }

    private record Running(Process process, OutputStream stdin, Map<String, Replies> conversations) {
    }

    private interface Replies {
        /** Takes one reply; true once the conversation is over. */
        boolean accept(String reply);

        void fail(IOException cause);
    }

    private record SingleReply(CompletableFuture<String> reply) implements Replies {
        @Override
        public boolean accept(String text) {
            reply.complete(text);
            return true;
        }

        @Override
        public void fail(IOException cause) {
            reply.completeExceptionally(cause);
        }
    }

    private record LaunchReplies(Launch launch) implements Replies {
        @Override
        public boolean accept(String text) {
            String[] words = text.split(" ", 2);
            String rest = words.length > 1 ? words[1] : "";
            switch (words[0]) {
                case "forked" -> {
                    String[] fields = rest.strip().split(" ");
                    launch.forked().complete(new ProcessIdentity(Long.parseLong(fields[0]),
                            fields.length > 1 ? Long.parseLong(fields[1]) : 0));
                }
                case "report" -> launch.report().complete(rest);
                case "exited" -> {
                    launch.report().complete("");
                    launch.exited().complete(Integer.parseInt(rest.strip()));
                    return true;
                }
                case "error" -> {
                    // The service forked it but cannot follow it: whoever waits must watch it another way.
                    fail(new IOException(rest));
                    return true;
                }
                default -> {
                    return false;
                }
            }
            return false;
        }

        @Override
        public void fail(IOException cause) {
            launch.forked().completeExceptionally(cause);
            launch.report().completeExceptionally(cause);
            launch.exited().completeExceptionally(cause);
        }
    }
}
