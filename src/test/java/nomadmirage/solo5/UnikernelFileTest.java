package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor(), "mkfifo " + fifo);

        ManifestException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(ManifestException.class, () -> UnikernelReader.read(fifo)));

        assertEquals(fifo + ": not a regular file", e.getMessage());
    }

    @Test
    void refusesADevice() {
        Path device = Path.of("/dev/zero"); // only read: its attributes, never its content
        assertTrue(Files.exists(device), "every Linux host has " + device);

        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(device));

        assertEquals("/dev/zero: not a regular file", e.getMessage());
    }

    @Test
    void refusesAnUnreadableFile() throws Exception {
        Path file = Files.write(dir.resolve("secret.hvt"), TestElf.unikernel().bytes());
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("---------"));

        String message;
        if (Files.isReadable(file)) {
            // Root (as under CI): CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH bypass the mode, so the
            // read runs in a JVM that is still uid 0 but has neither capability. A readable copy
            // shows that this JVM reads fine when the mode allows it.
            Path readable = Files.write(dir.resolve("readable.hvt"), TestElf.unikernel().bytes());
            List<String> lines = readWithoutPermissionOverride(readable, file);
            assertEquals(List.of("read " + readable, file + ": cannot read: permission denied"), lines);
            message = lines.get(1);
        } else {
            message = assertThrows(ManifestException.class, () -> UnikernelReader.read(file)).getMessage();
        }

        assertEquals(file + ": cannot read: permission denied", message);
    }

    /**
     * Runs {@link ReadEach} on {@code files} in a JVM started through setpriv without the capabilities
     * that let root ignore file modes (dropped from the bounding and inheritable sets, so the JVM
     * never regains them); returns its output lines.
     */
    private List<String> readWithoutPermissionOverride(Path... files) throws Exception {
        List<String> command = new ArrayList<>(List.of("setpriv",
                "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xshare:auto",
                "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), ReadEach.class.getName()));
        for (Path f : files) {
            command.add(f.toString());
        }
        Path err = dir.resolve("child.stderr");
        Process child = new ProcessBuilder(command).redirectError(err.toFile()).start();
        String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child JVM did not end");
        assertEquals(0, child.exitValue(), "child JVM: " + out + Files.readString(err));
        return out.lines().toList();
    }

    /** Reads each file named on the command line; prints "read FILE" or the ManifestException's message. */
    public static final class ReadEach {
        public static void main(String[] args) {
            for (String arg : args) {
                try {
                    UnikernelReader.read(Path.of(arg));
                    System.out.println("read " + arg);
                } catch (ManifestException e) {
                    System.out.println(e.getMessage());
                }
            }
        }
    }
}
