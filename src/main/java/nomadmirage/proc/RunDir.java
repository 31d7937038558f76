package nomadmirage.proc;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The files mirage-supervisor keeps in a run directory, each a few "key=value" lines written
 * atomically: {@code supervisor} and {@code tender} (pid, start_ticks), {@code status}
 * (exit_code, signal, core_dumped, exited_at_ns, and errno + failure when the exec failed),
 * {@code console.tail} (the tender's last output lines, plain text, written just before
 * {@code status}) and {@code supervisor.log}.
 */
final class RunDir {
    static final String SUPERVISOR = "supervisor";
    static final String TENDER = "tender";
    static final String STATUS = "status";
    static final String LOG = "supervisor.log";
    static final String CONSOLE_TAIL = "console.tail";
    /** The supervisor writes at most 2 KiB; more than this is not read whatever the file holds. */
    static final int CONSOLE_TAIL_READ_LIMIT = 8192;

    private RunDir() {
    }

    static Map<String, String> parseKeyValues(String content) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : content.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq), line.substring(eq + 1));
            } else if (!line.isBlank()) {
                throw new IllegalArgumentException("not a key=value line: " + line);
            }
        }
        return values;
    }

    static ProcessIdentity parseIdentity(String content) {
        Map<String, String> values = parseKeyValues(content);
        return new ProcessIdentity(number(values, "pid"), number(values, "start_ticks"));
    }

    static ExitStatus parseStatus(String content) {
        Map<String, String> values = parseKeyValues(content);
        long ns = number(values, "exited_at_ns");
        String failure = values.get("failure");
        return new ExitStatus((int) number(values, "exit_code"), (int) number(values, "signal"),
                "1".equals(values.get("core_dumped")),
                Instant.ofEpochSecond(ns / 1_000_000_000L, ns % 1_000_000_000L),
                failure == null || failure.isEmpty() ? null : failure);
    }

    static Optional<ProcessIdentity> readIdentity(Path file) throws IOException {
        Optional<String> text = read(file);
        try {
            return text.map(RunDir::parseIdentity);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Empty while the tender runs (or when the supervisor was lost before it could write one).
     * With the console tail, which the supervisor writes before the status.
     */
    static Optional<ExitStatus> readStatus(Path dir) throws IOException {
        Path file = dir.resolve(STATUS);
        Optional<String> text = read(file);
        try {
            return text.map(RunDir::parseStatus).map(s -> s.withConsoleTail(readConsoleTail(dir)));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The tender's last output lines as the supervisor kept them; empty when there are none or
     * they cannot be read (they are context, never a reason to lose the exit status). Read from
     * the end, at most {@link #CONSOLE_TAIL_READ_LIMIT} bytes, starting on a whole line.
     */
    static String readConsoleTail(Path dir) {
        try (SeekableByteChannel channel = Files.newByteChannel(dir.resolve(CONSOLE_TAIL))) {
            long size = channel.size();
            long from = Math.max(0, size - CONSOLE_TAIL_READ_LIMIT);
            channel.position(from);
            ByteBuffer buffer = ByteBuffer.allocate((int) (size - from));
            while (buffer.hasRemaining() && channel.read(buffer) > 0) {
                // reads what is there
            }
            String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8);
            if (from > 0) {
                int nl = text.indexOf('\n');
                text = nl < 0 ? "" : text.substring(nl + 1);
            }
            return text;
        } catch (IOException e) {
            return "";
        }
    }

    /** The end of supervisor.log, for error messages; empty when there is none. */
    static String logTail(Path dir) {
        try {
            byte[] bytes = Files.readAllBytes(dir.resolve(LOG));
            int from = Math.max(0, bytes.length - 2000);
            return new String(bytes, from, bytes.length - from, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return "";
        }
    }

    private static Optional<String> read(Path file) throws IOException {
        try {
            return Optional.of(Files.readString(file));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    private static long number(Map<String, String> values, String key) {
        String value = values.get(key);
        if (value == null) {
            throw new IllegalArgumentException("missing " + key);
        }
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " is not a number: " + value, e);
        }
    }
}
