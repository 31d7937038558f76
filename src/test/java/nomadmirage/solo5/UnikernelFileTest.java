package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading from the file system: every failure is a ManifestException naming the file. */
class UnikernelFileTest {
    @TempDir
    Path dir;

    @Test
    void namesTheFileInFormatErrors() throws Exception {
        Path file = Files.write(dir.resolve("broken.hvt"), TestElf.unikernel().manifestVersion(9).bytes());

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(file));

        assertTrue(e.getMessage().startsWith(file + ": manifest at offset"), e.getMessage());
    }

    @Test
    void readsOnlyTheHeadersAndNotesOfAHugeFile() throws Exception {
        Path file = Files.write(dir.resolve("huge.hvt"), TestElf.unikernel().device("service0", DeviceType.NET_BASIC).bytes());
        try (RandomAccessFile sparse = new RandomAccessFile(file.toFile(), "rw")) {
            sparse.setLength(4L << 30);
        }

        Unikernel unikernel = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> UnikernelReader.read(file));

        assertEquals(1, unikernel.manifest().devices().size());
    }

    @Test
    void refusesAMissingFile() {
        Path file = dir.resolve("missing.hvt");

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(file));

        assertEquals(file + ": cannot read: no such file", e.getMessage());
    }

    @Test
    void refusesADirectory() {
        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(dir));

        assertEquals(dir + ": not a regular file (a directory)", e.getMessage());
    }

    @Test
    void refusesAnEmptyFile() throws Exception {
        Path file = Files.createFile(dir.resolve("empty.hvt"));

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(file));

        assertEquals(file + ": not an ELF file: only 0 bytes long", e.getMessage());
    }

    @Test
    void refusesAFifoWithoutWaitingForAWriter() throws Exception {
        Path fifo = dir.resolve("fifo");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo unavailable");

        ManifestException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(ManifestException.class, () -> UnikernelReader.read(fifo)));

        assertEquals(fifo + ": not a regular file", e.getMessage());
    }

    @Test
    void refusesADevice() {
        Path device = Path.of("/dev/zero");
        assumeTrue(Files.exists(device));

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(device));

        assertEquals("/dev/zero: not a regular file", e.getMessage());
    }

    @Test
    void refusesAnUnreadableFile() throws Exception {
        Path file = Files.write(dir.resolve("secret.hvt"), TestElf.unikernel().bytes());
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("---------"));
        assumeTrue(!Files.isReadable(file), "running as root: permissions are not enforced");

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(file));

        assertEquals(file + ": cannot read: permission denied", e.getMessage());
    }
}
