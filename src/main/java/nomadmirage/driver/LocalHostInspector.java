package nomadmirage.driver;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/** {@link HostInspector} over this machine's file system, PATH and /sys. */
public final class LocalHostInspector implements HostInspector {
    private final String searchPath;

    public LocalHostInspector(String searchPath) {
        this.searchPath = searchPath == null ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : searchPath;
    }

    @Override
    public Optional<Path> findExecutable(String nameOrPath) {
        if (nameOrPath.startsWith("/")) {
            Path path = Path.of(nameOrPath);
            return Files.isRegularFile(path) && Files.isExecutable(path) ? Optional.of(path) : Optional.empty();
        }
        for (String dir : searchPath.split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, nameOrPath);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    @Override
    public boolean canOpenReadWrite(Path path) {
        // Never RandomAccessFile "rw": it opens with O_CREAT, and as root that would make a missing /dev/kvm
        // a regular file, which every later check would then find "usable".
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return true;
        } catch (IOException | SecurityException e) {
            return false;
        }
    }

    @Override
    public Optional<String> interfaceState(String name) {
        Path state = Path.of("/sys/class/net", name, "operstate");
        try {
            return Optional.of(Files.readString(state).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    @Override
    public Optional<String> prepareWritableDirectory(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            return Optional.of("cannot create " + dir + ": " + e.getMessage());
        }
        return Files.isWritable(dir) ? Optional.empty() : Optional.of(dir + " is not writable by the plugin");
    }
}
