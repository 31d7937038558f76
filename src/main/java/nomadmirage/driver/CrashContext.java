package nomadmirage.driver;

import java.util.List;

/** The task event that shows how a unikernel ended when it crashed: its last console lines on one line. */
final class CrashContext {
    /** Nomad shows an event's message as one table cell; the lines are joined with this. */
    static final String SEPARATOR = " | ";

    private CrashContext() {
    }

    static String message(String consoleTail) {
        List<String> lines = consoleTail.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
        return "Last console lines: " + String.join(SEPARATOR, lines);
    }
}
