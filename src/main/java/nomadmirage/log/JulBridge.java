package nomadmirage.log;

import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;

/**
 * Routes java.util.logging (used by gRPC and Netty) into our hclog lines, so
 * that library warnings reach the agent's log as structured entries instead
 * of plain text. Library chatter below INFO is not forwarded.
 */
public final class JulBridge extends Handler {
    private final Logger log;

    private JulBridge(Logger log) {
        this.log = log;
    }

    public static void install(Logger log) {
        LogManager.getLogManager().reset();
        java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
        root.setLevel(Level.INFO);
        root.addHandler(new JulBridge(log));
        // Netty warns on every connection that unix sockets have no SO_KEEPALIVE.
        java.util.logging.Logger.getLogger("io.netty.bootstrap").setLevel(Level.SEVERE);
        // Netty's machine id falls back to random bytes in a namespace without hardware addresses; harmless.
        java.util.logging.Logger.getLogger("io.netty.util.internal.MacAddressUtil").setLevel(Level.SEVERE);
    }

    @Override
    public void publish(LogRecord record) {
        LogLevel level = record.getLevel().intValue() >= Level.SEVERE.intValue() ? LogLevel.ERROR
                : record.getLevel().intValue() >= Level.WARNING.intValue() ? LogLevel.WARN
                : record.getLevel().intValue() >= Level.INFO.intValue() ? LogLevel.INFO
                : LogLevel.DEBUG;
        String message = record.getMessage();
        if (record.getParameters() != null && message != null && message.contains("{0")) {
            message = java.text.MessageFormat.format(message, record.getParameters());
        }
        log.log(level, message == null ? "" : message, "logger", record.getLoggerName(),
                "error", record.getThrown());
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
}
