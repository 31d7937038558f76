package nomadmirage.driver.harness;

import java.nio.file.Path;
import java.util.Optional;
import nomadmirage.driver.HostInspector;

/** A node with every tender installed (under /opt/fake-tenders, never executed) and a usable /dev/kvm. */
public final class FakeHost implements HostInspector {
    private volatile boolean kvm = true;

    public void kvm(boolean usable) {
        this.kvm = usable;
    }

    @Override
    public Optional<Path> findExecutable(String nameOrPath) {
        return Optional.of(nameOrPath.startsWith("/") ? Path.of(nameOrPath) : Path.of("/opt/fake-tenders", nameOrPath));
    }

    @Override
    public boolean canOpenReadWrite(Path path) {
        return kvm;
    }

    @Override
    public Optional<String> interfaceState(String name) {
        return Optional.of("up");
    }

    @Override
    public Optional<String> prepareWritableDirectory(Path dir) {
        return Optional.empty();
    }
}
