package nomadmirage.proc;

import java.time.Instant;
import java.util.Optional;

import java.io.IOException;
import java.nio.file.Path;

/** Starts tenders under a supervisor that outlives the plugin, and finds them again after a restart. */
public interface Supervisor {
    /** Returns once the tender was exec'd; its files are then in {@code r.runDir()}. */
    SupervisedProcess launch(LaunchRequest r) throws LaunchException;

    /** Re-attaches to a tender launched earlier, possibly by another plugin process, running or not. */
    SupervisedProcess attach(Path runDir) throws IOException;

    /** What a run directory shows without attaching to it (nothing is started, nothing watched). */
    enum RunDirState { NOT_STARTED, STARTING, RUNNING, ENDED }

    RunDirState inspect(Path runDir);

    /** When the tender's end was recorded in {@code runDir}; empty while it runs or when nothing was recorded. */
    Optional<Instant> endedAt(Path runDir);
}
