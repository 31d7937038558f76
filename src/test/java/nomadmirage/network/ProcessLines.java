package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** The output lines of a helper process, read as they come so a test can wait for the next one. */
final class ProcessLines {
    private final String name;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    /** Read but not yet asked for; only the test thread touches it. */
    private final List<String> skipped = new ArrayList<>();

    ProcessLines(String name, Process process) {
        this.name = name;
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // The process was killed with its namespace.
            }
        }, name);
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Waits (up to 10 s) for the next line that starts with {@code prefix} and returns it. Lines passed
     * over stay for later calls: a guest may report a datagram before it confirms the write that caused it.
     */
    String await(String prefix) throws InterruptedException {
        for (Iterator<String> it = skipped.iterator(); it.hasNext(); ) {
            String line = it.next();
            if (line.startsWith(prefix)) {
                it.remove();
                return line;
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String line = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            assertNotNull(line, name + " never printed a line starting with \"" + prefix + "\"");
            if (line.startsWith(prefix)) {
                return line;
            }
            skipped.add(line);
        }
    }
}
