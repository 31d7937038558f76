package nomadmirage.proc;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Signal names as Nomad passes them (SignalTask, kill_signal: "SIGTERM", also "TERM" or a number)
 * to Linux x86_64 signal numbers.
 */
public final class Signals {
    public static final int SIGHUP = 1;
    public static final int SIGINT = 2;
    public static final int SIGQUIT = 3;
    public static final int SIGKILL = 9;
    public static final int SIGUSR1 = 10;
    public static final int SIGUSR2 = 12;
    public static final int SIGTERM = 15;
    public static final int SIGCONT = 18;
    public static final int SIGSTOP = 19;

    /** glibc reserves 32 and 33 for threading; SIGRTMIN as applications see it is 34. */
    private static final int RTMIN = 34;
    private static final int RTMAX = 64;

    private static final Map<String, Integer> BY_NAME = new LinkedHashMap<>();
    private static final String[] NAMES = new String[32];

    static {
        String[] names = {"HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
            "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
            "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"};
        for (int i = 0; i < names.length; i++) {
            BY_NAME.put(names[i], i + 1);
            NAMES[i + 1] = "SIG" + names[i];
        }
        BY_NAME.put("IOT", 6);
        BY_NAME.put("CLD", 17);
        BY_NAME.put("POLL", 29);
        BY_NAME.put("RTMIN", RTMIN);
        BY_NAME.put("RTMAX", RTMAX);
    }

    private Signals() {
    }

    /** "SIGTERM", "term", "TERM", "15", "SIGRTMIN+2" → the signal number. */
    public static int parse(String signal) {
        String s = signal == null ? "" : signal.strip().toUpperCase(Locale.ROOT);
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
            if (s.length() <= 2 && Integer.parseInt(s) >= 1 && Integer.parseInt(s) <= RTMAX) {
                return Integer.parseInt(s);
            }
            throw unknown(signal);
        }
        if (s.startsWith("SIG")) {
            s = s.substring(3);
        }
        Integer n = BY_NAME.get(s);
        if (n != null) {
            return n;
        }
        int n2 = realtime(s);
        if (n2 > 0) {
            return n2;
        }
        throw unknown(signal);
    }

    /** The conventional name of a signal number, e.g. "SIGTERM", "SIGRTMIN+2". */
    public static String name(int signo) {
        if (signo >= 1 && signo < NAMES.length) {
            return NAMES[signo];
        }
        if (signo >= RTMIN && signo <= RTMAX) {
            return signo == RTMIN ? "SIGRTMIN" : "SIGRTMIN+" + (signo - RTMIN);
        }
        if (signo > 0 && signo < RTMIN) {
            return "SIG" + signo;
        }
        throw new IllegalArgumentException("no signal number " + signo + " on Linux (1-" + RTMAX + ")");
    }

    private static int realtime(String s) {
        for (String base : new String[] {"RTMIN+", "RTMAX-"}) {
            if (s.startsWith(base) && s.length() > base.length() && s.length() <= base.length() + 2
                    && s.substring(base.length()).chars().allMatch(Character::isDigit)) {
                int offset = Integer.parseInt(s.substring(base.length()));
                int n = base.startsWith("RTMIN") ? RTMIN + offset : RTMAX - offset;
                return n >= RTMIN && n <= RTMAX ? n : -1;
            }
        }
        return -1;
    }

    private static IllegalArgumentException unknown(String signal) {
        return new IllegalArgumentException("unknown signal \"" + signal + "\"; use one of "
                + String.join(", ", BY_NAME.keySet().stream().map(n -> "SIG" + n).toList())
                + ", SIGRTMIN+N, SIGRTMAX-N (the SIG prefix is optional), or a number from 1 to " + RTMAX);
    }
}
