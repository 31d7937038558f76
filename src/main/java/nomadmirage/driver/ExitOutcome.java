package nomadmirage.driver;

import nomadmirage.proc.ExitStatus;
import nomadmirage.tender.TenderCommand;
import nomadmirage.tender.TenderKind;

/**
 * How a task ended, in Nomad's terms (exit code, signal, error), with a
 * sentence for the task events. A signal death is reported like Nomad's own
 * executor: the signal, and 128 + signal as the exit code.
 */
public record ExitOutcome(int exitCode, int signal, String error, String description) {

    public boolean successful() {
        return exitCode == 0 && signal == 0 && error == null;
    }

    public static ExitOutcome from(ExitStatus status, TenderKind tender) {
        if (status.failure() != null) {
            return new ExitOutcome(status.exitCode(), status.signal(), status.failure(), status.failure());
        }
        if (status.signal() != 0) {
            return new ExitOutcome(128 + status.signal(), status.signal(), null,
                    "tender killed by signal " + status.signal() + (status.coreDumped() ? " (core dumped)" : ""));
        }
        int code = status.exitCode();
        if (tender == TenderKind.QEMU) {
            return code == TenderCommand.QEMU_GUEST_EXIT_STATUS
                    ? new ExitOutcome(0, 0, null, "unikernel exited (qemu status 83 from isa-debug-exit)")
                    : new ExitOutcome(code, 0, null, "qemu exited with status " + code
                            + (code == 0 ? " (stopped from the host)" : " before the unikernel finished"));
        }
        if (code == 255) {
            return new ExitOutcome(code, 0, null, "unikernel aborted (solo5_abort or a guest fault), status 255");
        }
        return new ExitOutcome(code, 0, null, "unikernel exited with status " + code);
    }
}
