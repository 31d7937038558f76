package nomadmirage.driver;

import java.nio.file.Path;
import java.util.Optional;

/** Read-only questions about the host that the fingerprint asks. */
public interface HostInspector {
    /** Resolves a command name on PATH, or checks an absolute path; empty when not executable. */
    Optional<Path> findExecutable(String nameOrPath);

    /** Whether this process can open the file for reading and writing (e.g. /dev/kvm). */
    boolean canOpenReadWrite(Path path);

    /** The operational state of a network interface ("up", "down", ...), empty when absent. */
    Optional<String> interfaceState(String name);

    /** Creates the directory if needed and checks it is writable; the problem, or empty when fine. */
    Optional<String> prepareWritableDirectory(Path dir);
}
