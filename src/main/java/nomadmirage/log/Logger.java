package nomadmirage.log;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.StringWriter;
import java.time.Clock;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.function.Supplier;

/**
 * hclog-style JSON logger. Each line carries {@code @level}, {@code @message},
 * {@code @timestamp} (strings, hclog's layout with six fractional digits) and
 * {@code @module}, then snake_case key/value pairs, so the Nomad agent parses
 * our stderr as structured log entries.
 */
public final class Logger {
    private static final JsonFactory JSON = new JsonFactory();
    /** hclog's TimeFormatJSON: 2006-01-02T15:04:05.000000Z07:00. */
    static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX");

    private final String module;
    private final LogSink sink;
    private final LevelHolder level;
    private final Clock clock;

    private Logger(String module, LogSink sink, LevelHolder level, Clock clock) {
        this.module = module;
        this.sink = sink;
        this.level = level;
        this.clock = clock;
    }

    public static Logger root(String module, LogSink sink, LogLevel level) {
        return new Logger(module, sink, new LevelHolder(level), Clock.systemDefaultZone());
    }

    public static Logger root(String module, LogSink sink, LogLevel level, Clock clock) {
        return new Logger(module, sink, new LevelHolder(level), clock);
    }

    /** A logger for a sub-module sharing this logger's sink and level. */
    public Logger named(String name) {
        return new Logger(module + "." + name, sink, level, clock);
    }

    /** Changes the level for this logger and every logger derived from the same root. */
    public void setLevel(LogLevel newLevel) {
        level.value = newLevel;
    }

    public LogLevel level() {
        return level.value;
    }

    public boolean isEnabled(LogLevel at) {
        return at != LogLevel.OFF && at.ordinal() >= level.value.ordinal();
    }

    public void trace(String message, Object... keyValues) {
        log(LogLevel.TRACE, message, keyValues);
    }

    public void debug(String message, Object... keyValues) {
        log(LogLevel.DEBUG, message, keyValues);
    }

    public void info(String message, Object... keyValues) {
        log(LogLevel.INFO, message, keyValues);
    }

    public void warn(String message, Object... keyValues) {
        log(LogLevel.WARN, message, keyValues);
    }

    public void error(String message, Object... keyValues) {
        log(LogLevel.ERROR, message, keyValues);
    }

    public void log(LogLevel at, String message, Object... keyValues) {
        if (!isEnabled(at)) {
            return;
        }
        sink.accept(format(at, message, keyValues));
    }

    String format(LogLevel at, String message, Object... keyValues) {
        StringWriter text = new StringWriter(160);
        try (JsonGenerator json = JSON.createGenerator(text)) {
            json.writeStartObject();
            json.writeStringField("@level", at.hclogName());
            json.writeStringField("@message", message);
            json.writeStringField("@module", module);
            json.writeStringField("@timestamp", TIMESTAMP.format(ZonedDateTime.now(clock)));
            for (int i = 0; i + 1 < keyValues.length; i += 2) {
                writeValue(json, String.valueOf(keyValues[i]), keyValues[i + 1]);
            }
            if (keyValues.length % 2 == 1) {
                writeValue(json, "EXTRA_VALUE_AT_END", keyValues[keyValues.length - 1]);
            }
            json.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException("writing to a StringWriter cannot fail", e);
        }
        return text.toString();
    }

    private static void writeValue(JsonGenerator json, String key, Object value) throws IOException {
        Object resolved = value instanceof Supplier<?> supplier ? supplier.get() : value;
        json.writeFieldName(key);
        switch (resolved) {
            case null -> json.writeNull();
            case Boolean b -> json.writeBoolean(b);
            case Integer n -> json.writeNumber(n);
            case Long n -> json.writeNumber(n);
            case Double n -> json.writeNumber(n);
            case Throwable t -> json.writeString(describe(t));
            default -> json.writeString(resolved.toString());
        }
    }

    private static String describe(Throwable t) {
        String message = t.getMessage();
        return message == null ? t.getClass().getName() : message;
    }

    /** The zone used for timestamps; exposed for tests. */
    ZoneId zone() {
        return clock.getZone();
    }

    private static final class LevelHolder {
        private volatile LogLevel value;

        LevelHolder(LogLevel value) {
            this.value = value;
        }
    }
}
