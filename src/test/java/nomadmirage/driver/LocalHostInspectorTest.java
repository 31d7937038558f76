package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalHostInspectorTest {
    private final LocalHostInspector host = new LocalHostInspector(null);

    @Test
    void aMissingDeviceIsNotUsableAndIsNeverCreated(@TempDir Path dir) {
        Path kvm = dir.resolve("kvm");
        assertFalse(host.canOpenReadWrite(kvm));
        assertFalse(Files.exists(kvm, LinkOption.NOFOLLOW_LINKS), "the check created the file it looked for");
    }

    @Test
    void aFileThatOpensForReadAndWriteIsUsable(@TempDir Path dir) throws IOException {
        Path file = Files.createFile(dir.resolve("rw"));
        assertTrue(host.canOpenReadWrite(file));
    }

    @Test
    void aDirectoryIsNotUsable(@TempDir Path dir) {
        assertFalse(host.canOpenReadWrite(dir));
    }
}
