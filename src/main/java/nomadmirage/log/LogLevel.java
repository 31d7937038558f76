package nomadmirage.log;

import java.util.Locale;

/** hclog's levels, in order; the names are what hclog parses. */
public enum LogLevel {
    TRACE, DEBUG, INFO, WARN, ERROR, OFF;

    public String hclogName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a level name as hclog does (case-insensitive); null when unknown. */
    public static LogLevel parse(String name) {
        if (name == null) {
            return null;
        }
        for (LogLevel level : values()) {
            if (level.hclogName().equalsIgnoreCase(name.trim())) {
                return level;
            }
        }
        return null;
    }
}
