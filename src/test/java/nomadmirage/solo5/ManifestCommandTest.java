package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManifestCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @Test
    void printsTheAbiThenTheManifestOneJsonObjectPerLine() throws Exception {
        Path file = Files.write(dir.resolve("net.hvt"), TestElf.unikernel()
                .device("service0", DeviceType.NET_BASIC).device("storage", DeviceType.BLOCK_BASIC).bytes());

        int status = operatorCli("manifest", file.toString());

        assertEquals(0, status);
        assertEquals("""
                {"type":"solo5.abi","target":"hvt","version":2}
                {"type":"solo5.manifest","version":1,"devices":[{"name":"service0","type":"NET_BASIC"},\
                {"name":"storage","type":"BLOCK_BASIC"}]}
                """, text(out));
        assertEquals("", text(err));
    }

    @Test
    void printsAnEmptyDeviceListForAUnikernelWithoutDevices() throws Exception {
        Path file = Files.write(dir.resolve("hello.virtio"), TestElf.unikernel().target(AbiTarget.VIRTIO, 1).bytes());

        assertEquals(0, operatorCli("manifest", file.toString()));
        assertEquals("""
                {"type":"solo5.abi","target":"virtio","version":1}
                {"type":"solo5.manifest","version":1,"devices":[]}
                """, text(out));
    }

    @Test
    void reportsAnInvalidFileOnStandardErrorWithStatus1() throws Exception {
        Path file = Files.write(dir.resolve("bad.hvt"), TestElf.unikernel().withoutManifest().bytes());

        assertEquals(1, operatorCli("manifest", file.toString()));
        assertEquals("", text(out));
        assertTrue(text(err).startsWith("error: " + file + ": no Solo5 manifest note"), text(err));
    }

    @Test
    void showsTheProblemAndUsageWithStatus2WithoutAFile() throws Exception {
        assertEquals(2, operatorCli("manifest"));
        assertEquals("", text(out));
        assertTrue(text(err).startsWith("nomad-driver-mirage manifest: Missing required parameter: 'FILE'\n"
                + "Usage: nomad-driver-mirage manifest [-h] FILE\n"), text(err));
    }

    @Test
    void showsTheProblemAndUsageWithStatus2ForExtraArguments() throws Exception {
        assertEquals(2, operatorCli("manifest", "a", "b"));
        assertEquals("", text(out));
        assertTrue(text(err).startsWith("nomad-driver-mirage manifest: Unmatched argument at index 2: 'b'\n"
                + "Usage: nomad-driver-mirage manifest [-h] FILE\n"), text(err));
    }

    @Test
    void helpIsNotTakenForAFile() throws Exception {
        assertEquals(0, operatorCli("manifest", "--help"));
        assertTrue(text(out).startsWith("Usage: nomad-driver-mirage manifest [-h] FILE\n"), text(out));
        assertTrue(text(out).contains("1   FILE is not a valid Solo5 unikernel"), text(out));
        assertEquals("", text(err));
    }

    @Test
    void anOperandStartingWithAtIsAFileNameNotAnArgumentFile() throws Exception {
        Path unikernel = Files.write(dir.resolve("net.hvt"), TestElf.unikernel().bytes());
        Path arguments = Files.writeString(dir.resolve("arguments"), unikernel.toString());

        assertEquals(1, operatorCli("manifest", "@" + arguments));
        assertEquals("", text(out));
        assertTrue(text(err).startsWith("error: @" + arguments), text(err));
    }

    @Test
    void theOperatorUsageMentionsTheCommand() throws Exception {
        assertEquals(0, operatorCli("help"));
        assertTrue(text(out).contains("\n  manifest  "), text(out));
    }

    /** OperatorCli.run is package-private in nomadmirage; calling it here tests the dispatch end to end. */
    private int operatorCli(String... args) throws Exception {
        Method run = Class.forName("nomadmirage.OperatorCli").getDeclaredMethod("run", String[].class, PrintStream.class, PrintStream.class);
        run.setAccessible(true);
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8); PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            return (int) run.invoke(null, args, o, e);
        }
    }

    private static String text(ByteArrayOutputStream stream) {
        return stream.toString(StandardCharsets.UTF_8);
    }
}
