package nomadmirage.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nomadmirage.proc.ExitStatus;
import nomadmirage.tender.TenderCommand;
import nomadmirage.tender.TenderKind;

/**
 * How a task ended, in Nomad's terms (exit code, signal, error), with a sentence for the task
 * events and the end of the console for crash context. A signal death is reported like Nomad's
 * own executor: the signal, and 128 + signal as the exit code.
 *
 * <p>solo5-hvt and solo5-spt exit with the unikernel's own status. Under qemu (virtio) the
 * status is lost: Solo5's virtio {@code platform_exit} ignores it and pokes isa-debug-exit, so
 * qemu exits 83 whatever the unikernel returned or however it aborted, and a guest reset under
 * {@code -no-reboot} ends qemu with 0, as a stop from the host does. The guest's status is
 * therefore recovered from the console, where Solo5 prints {@code Solo5: solo5_exit(N) called}
 * (not under {@code --solo5:quiet}) and {@code Solo5: ABORT: ...} (always).
 *
 * @param consoleTail the tender's last output lines, fit for an event: ANSI escapes and other
 *     control characters removed, at most {@link #TAIL_LINES} lines and {@link #TAIL_CHARS}
 *     characters; empty when there is none
 */
public record ExitOutcome(int exitCode, int signal, String error, String description, String consoleTail) {
    public static final int TAIL_LINES = 20;
    public static final int TAIL_CHARS = 2048;
    /** The status reported for a qemu that ended by itself without the guest exiting. */
    public static final int UNREQUESTED_QEMU_EXIT = 1;

    private static final int ABORT_STATUS = 255;
    private static final Pattern SOLO5_EXIT = Pattern.compile("Solo5: solo5_exit\\((-?\\d{1,10})\\) called");
    private static final Pattern SOLO5_ABORT = Pattern.compile("Solo5: (?:ABORT: .*|solo5_abort\\(\\) called)");
    /** CSI (colours, cursor moves), OSC (titles) and two-character escapes such as ESC c. */
    private static final Pattern ESCAPE = Pattern.compile(
            "\u001B(?:\\[[0-?]*[ -/]*[@-~]|\\][^\u0007\u001B]*(?:\u0007|\u001B\\\\)?|[ -/]*[0-~])");
    private static final Pattern CONTROL = Pattern.compile("[\\p{Cntrl}&&[^\n\t]]");

    public ExitOutcome {
        consoleTail = consoleTail == null ? "" : consoleTail;
    }

    /** Without console tail. */
    public ExitOutcome(int exitCode, int signal, String error, String description) {
        this(exitCode, signal, error, description, "");
    }

    public boolean successful() {
        return exitCode == 0 && signal == 0 && error == null;
    }

    /**
     * Whether the end calls for crash context: a non-zero exit (an abort is 255), a signal, or
     * an error (exec failed, supervisor lost). Also true for a stop the driver asked for when
     * the tender reports it so (solo5-hvt exits 1 on SIGTERM, solo5-spt dies of it).
     */
    public boolean abnormal() {
        return !successful();
    }

    /**
     * For a caller that does not know whether a stop was requested (e.g. a task recovered after
     * a plugin restart): a qemu status 0 is then taken for a stop from the host (exit 0), as
     * before, with a description saying that a guest reset would look the same.
     */
    public static ExitOutcome from(ExitStatus status, TenderKind tender) {
        return from(status, tender, StopRequest.UNKNOWN);
    }

    /**
     * @param stopRequested whether the driver asked the tender to stop (StopTask, DestroyTask
     *     with force, a kill) before it ended; only qemu's status 0 depends on it
     */
    public static ExitOutcome from(ExitStatus status, TenderKind tender, boolean stopRequested) {
        return from(status, tender, stopRequested ? StopRequest.REQUESTED : StopRequest.NOT_REQUESTED);
    }

    public static ExitOutcome from(ExitStatus status, TenderKind tender, StopRequest stopRequested) {
        List<String> lines = displayLines(status.consoleTail());
        String tail = String.join("\n", lines);
        if (status.failure() != null) {
            return new ExitOutcome(status.exitCode(), status.signal(), status.failure(), status.failure(), tail);
        }
        if (status.signal() != 0) {
            return new ExitOutcome(128 + status.signal(), status.signal(), null,
                    "tender killed by signal " + status.signal() + (status.coreDumped() ? " (core dumped)" : ""), tail);
        }
        int code = status.exitCode();
        if (tender == TenderKind.QEMU) {
            return fromQemu(code, lines, tail, stopRequested);
        }
        if (code == ABORT_STATUS) {
            String line = lastGuestEnd(lines);
            return new ExitOutcome(code, 0, null, "unikernel aborted (solo5_abort or a guest fault), status 255"
                    + (line != null && SOLO5_ABORT.matcher(line).find() ? ": " + line : ""), tail);
        }
        return new ExitOutcome(code, 0, null, "unikernel exited with status " + code, tail);
    }

    private static ExitOutcome fromQemu(int code, List<String> lines, String tail, StopRequest stopRequested) {
        if (code == TenderCommand.QEMU_GUEST_EXIT_STATUS) {
            String line = lastGuestEnd(lines);
            if (line == null) {
                return new ExitOutcome(0, 0, null, "unikernel exited (qemu status 83 from isa-debug-exit); its own"
                        + " status was not printed (--solo5:quiet hides it), so it is reported as 0", tail);
            }
            Matcher exit = SOLO5_EXIT.matcher(line);
            if (exit.find()) {
                int guest = (int) (Long.parseLong(exit.group(1)) & 0xFF);
                return new ExitOutcome(guest, 0, null, "unikernel exited with status " + guest
                        + " (from its console: \"" + exit.group() + "\"; qemu exits 83 whatever the status)", tail);
            }
            return new ExitOutcome(ABORT_STATUS, 0, null, "unikernel aborted, status 255 (from its console: \""
                    + line + "\"; qemu exits 83 whatever the status)", tail);
        }
        if (code != 0) {
            return new ExitOutcome(code, 0, null, "qemu exited with status " + code + " before the unikernel finished",
                    tail);
        }
        if (stopRequested == StopRequest.UNKNOWN) {
            return new ExitOutcome(0, 0, null, "qemu exited with status 0 (stopped from the host, or the guest reset"
                    + " or powered off: not known which)", tail);
        }
        if (stopRequested == StopRequest.REQUESTED) {
            return new ExitOutcome(0, 0, null, "qemu exited with status 0 (stopped from the host)", tail);
        }
        return new ExitOutcome(UNREQUESTED_QEMU_EXIT, 0, null, "qemu exited with status 0 although no stop was"
                + " requested: the guest reset (a triple fault, or a reboot, ends qemu under -no-reboot) or powered"
                + " off without solo5_exit; reported as status " + UNREQUESTED_QEMU_EXIT, tail);
    }

    /** The last line where Solo5 reported the guest's end (an exit or an abort), or null. */
    private static String lastGuestEnd(List<String> lines) {
        for (int i = lines.size() - 1; i >= 0; i--) {
            String line = lines.get(i);
            Matcher exit = SOLO5_EXIT.matcher(line);
            if (exit.find()) {
                return exit.group();
            }
            Matcher abort = SOLO5_ABORT.matcher(line);
            if (abort.find()) {
                return abort.group().strip();
            }
        }
        return null;
    }

    /**
     * The tail as lines fit for a task event: escape sequences and control characters removed,
     * the last {@link #TAIL_LINES} lines within {@link #TAIL_CHARS} characters (a longer last
     * line keeps its end), no trailing blank lines.
     */
    static List<String> displayLines(String raw) {
        if (raw == null || raw.isEmpty()) {
            return List.of();
        }
        String clean = CONTROL.matcher(ESCAPE.matcher(raw.replace("\r\n", "\n")).replaceAll("")).replaceAll("");
        String[] all = clean.split("\n", -1);
        int end = all.length;
        while (end > 0 && all[end - 1].isBlank()) {
            end--;
        }
        List<String> kept = new ArrayList<>();
        int chars = 0;
        for (int i = end - 1; i >= 0 && kept.size() < TAIL_LINES; i--) {
            String line = all[i].stripTrailing();
            int need = line.length() + (kept.isEmpty() ? 0 : 1); // and the newline joining it to the next
            if (chars + need > TAIL_CHARS) {
                if (kept.isEmpty()) {
                    kept.add(line.substring(line.length() - TAIL_CHARS));
                }
                break;
            }
            kept.add(line);
            chars += need;
        }
        return kept.reversed();
    }
}
