package nomadmirage.proc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** The fields of /proc/PID/stat this package uses (numbers as in proc(5)). */
record StatLine(long pid, String comm, char state, long session, long utime, long stime, long startTicks) {
    /** Zombie or dead: the pid is still taken but the program no longer runs. */
    boolean ended() {
        return state == 'Z' || state == 'X';
    }

    static Optional<StatLine> read(long pid) {
        String text;
        try {
            text = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            return Optional.empty();
        }
        return Optional.of(parse(text));
    }

    /** comm (field 2) may contain spaces and parentheses, so the fields after it start after the last ')'. */
    static StatLine parse(String line) {
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        if (open <= 0 || close < open || close + 2 > line.length()) {
            throw new IllegalArgumentException("malformed /proc stat line: " + line);
        }
        String[] f = line.substring(close + 2).strip().split(" ");
        if (f.length < 20 || f[0].length() != 1) {
            throw new IllegalArgumentException("malformed /proc stat line: " + line);
        }
        try {
            return new StatLine(Long.parseLong(line.substring(0, open).strip()), line.substring(open + 1, close),
                    f[0].charAt(0), field(f, 6), field(f, 14), field(f, 15), field(f, 22));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("malformed /proc stat line: " + line, e);
        }
    }

    private static long field(String[] afterComm, int number) {
        return Long.parseLong(afterComm[number - 3]);
    }
}
