package nomadmirage.proc;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs commands as child processes; output is captured up to a bound per stream. Output past
 * the bound is read and dropped (so the child never blocks on a full pipe) and the result is
 * marked {@link CommandResult#truncated() truncated}.
 */
public final class ProcessCommandRunner implements CommandRunner {
    @Override
    public CommandResult run(List<String> argv, Duration timeout) throws IOException {
        return run(argv, timeout, DEFAULT_MAX_OUTPUT_BYTES);
    }

    @Override
    public CommandResult run(List<String> argv, Duration timeout, int maxOutputBytes) throws IOException {
        if (maxOutputBytes < 0) {
            throw new IllegalArgumentException("negative output bound " + maxOutputBytes);
        }
        Process process = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        // One virtual thread per stream: on the shared pool (a single worker on 2 CPUs) the stdout reader would
        // hold the only worker while nobody drains stderr, and a chatty command would block until its timeout.
        CompletableFuture<Captured> out = readInBackground(process.getInputStream(), maxOutputBytes);
        CompletableFuture<Captured> err = readInBackground(process.getErrorStream(), maxOutputBytes);
        boolean finished;
        try {
            finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                process.destroyForcibly();
                process.waitFor(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + argv.getFirst(), e);
        }
        Captured stdout = out.join();
        Captured stderr = err.join();
        return new CommandResult(argv, finished ? process.exitValue() : -1, stdout.text(), stderr.text(), !finished,
                stdout.truncated() || stderr.truncated());
    }

    private record Captured(String text, boolean truncated) {
    }

    private static Captured readBounded(InputStream in, int maxBytes) {
        try (in) {
            byte[] bytes = in.readNBytes(maxBytes);
            long dropped = in.transferTo(OutputStream.nullOutputStream());
            return new Captured(new String(bytes, StandardCharsets.UTF_8), dropped > 0);
        } catch (IOException e) {
            // The stream broke off: whatever it had is not all of it.
            return new Captured("", true);
        }
    }

    private static CompletableFuture<Captured> readInBackground(java.io.InputStream stream, int maxOutputBytes) {
        CompletableFuture<Captured> captured = new CompletableFuture<>();
        Thread.ofVirtual().name("command-output").start(() -> {
            try {
                captured.complete(readBounded(stream, maxOutputBytes));
            } catch (RuntimeException | Error e) {
                captured.completeExceptionally(e);
            }
        });
        return captured;
    }
}
