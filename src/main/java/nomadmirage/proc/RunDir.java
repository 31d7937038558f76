package nomadmirage.proc;

import java.io.IOException;
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
 * and {@code supervisor.log}.
 */
final class RunDir {
    static final String SUPERVISOR = "supervisor";
    static final String TENDER = "tender";
    static final String STATUS = "status";
    static final String LOG = "supervisor.log";

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

    /** Empty while the tender runs (or when the supervisor was lost before it could write one). */
    static Optional<ExitStatus> readStatus(Path dir) throws IOException {
        Path file = dir.resolve(STATUS);
        Optional<String> text = read(file);
        try {
            return text.map(RunDir::parseStatus);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
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
