package nomadmirage.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The files mirage-supervisor writes, as the Java side reads them. */
class RunDirTest {
    @TempDir
    Path dir;

    @Test
    void normalExit() {
        ExitStatus s = RunDir.parseStatus("exit_code=3\nsignal=0\ncore_dumped=0\nexited_at_ns=1700000000123456789\n");
        assertEquals(3, s.exitCode());
        assertEquals(0, s.signal());
        assertFalse(s.coreDumped());
        assertEquals(Instant.ofEpochSecond(1_700_000_000L, 123_456_789), s.exitedAt());
        assertNull(s.failure());
        assertFalse(s.succeeded());
        assertTrue(RunDir.parseStatus("exit_code=0\nsignal=0\ncore_dumped=0\nexited_at_ns=1\n").succeeded());
    }

    @Test
    void deathBySignalWithCore() {
        ExitStatus s = RunDir.parseStatus("exit_code=139\nsignal=11\ncore_dumped=1\nexited_at_ns=5\n");
        assertEquals(11, s.signal());
        assertEquals(139, s.exitCode());
        assertTrue(s.coreDumped());
    }

    @Test
    void execFailureKeepsTheWholeMessageAndIgnoresUnknownKeys() {
        ExitStatus s = RunDir.parseStatus("exit_code=127\nsignal=0\ncore_dumped=0\nexited_at_ns=5\nerrno=2\n"
                + "failure=execve /opt/a=b: No such file or directory\nfuture_key=x\n");
        assertEquals(127, s.exitCode());
        assertEquals("execve /opt/a=b: No such file or directory", s.failure());
    }

    @Test
    void brokenStatusFilesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> RunDir.parseStatus("signal=0\nexited_at_ns=5\n"));
        assertThrows(IllegalArgumentException.class, () -> RunDir.parseStatus("exit_code=x\nsignal=0\nexited_at_ns=5\n"));
        assertThrows(IllegalArgumentException.class, () -> RunDir.parseStatus("garbage\n"));
    }

    @Test
    void identityFiles() {
        assertEquals(new ProcessIdentity(42, 9001), RunDir.parseIdentity("pid=42\nstart_ticks=9001\n"));
        assertThrows(IllegalArgumentException.class, () -> RunDir.parseIdentity("pid=42\n"));
    }

    @Test
    void readingFromADirectory() throws IOException {
        assertTrue(RunDir.readStatus(dir).isEmpty());
        assertTrue(RunDir.readIdentity(dir.resolve(RunDir.TENDER)).isEmpty());
        Files.writeString(dir.resolve(RunDir.TENDER), "pid=7\nstart_ticks=8\n");
        assertEquals(new ProcessIdentity(7, 8), RunDir.readIdentity(dir.resolve(RunDir.TENDER)).orElseThrow());
        Files.writeString(dir.resolve(RunDir.STATUS), "exit_code=1\n");
        IOException e = assertThrows(IOException.class, () -> RunDir.readStatus(dir));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
        assertEquals("", RunDir.logTail(dir));
    }

    @Test
    void theConsoleTailComesWithTheStatusAndIsEmptyWithoutOne() throws IOException {
        Files.writeString(dir.resolve(RunDir.STATUS), "exit_code=3\nsignal=0\ncore_dumped=0\nexited_at_ns=5\n");
        assertEquals("", RunDir.readStatus(dir).orElseThrow().consoleTail());
        assertEquals("", RunDir.readConsoleTail(dir));
        Files.writeString(dir.resolve(RunDir.CONSOLE_TAIL), "booting\nSolo5: solo5_exit(3) called\n");
        ExitStatus s = RunDir.readStatus(dir).orElseThrow();
        assertEquals(3, s.exitCode());
        assertEquals("booting\nSolo5: solo5_exit(3) called\n", s.consoleTail());
        assertEquals(s.consoleTail(), RunDir.readConsoleTail(dir));
        // The status alone (no console.tail) never reads as an error.
        assertEquals("", RunDir.parseStatus("exit_code=0\nsignal=0\ncore_dumped=0\nexited_at_ns=1\n").consoleTail());
        assertEquals("", new ExitStatus(0, 0, false, Instant.EPOCH, null, null).consoleTail());
    }

    @Test
    void anOversizedConsoleTailIsReadFromItsEndOnWholeLines() throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = 0; text.length() < 3 * RunDir.CONSOLE_TAIL_READ_LIMIT; i++) {
            text.append("line ").append(i).append('\n');
        }
        Files.writeString(dir.resolve(RunDir.CONSOLE_TAIL), text);
        String tail = RunDir.readConsoleTail(dir);
        assertTrue(tail.length() <= RunDir.CONSOLE_TAIL_READ_LIMIT, "read " + tail.length());
        assertTrue(tail.startsWith("line "), tail.substring(0, 20));
        assertTrue(text.toString().endsWith(tail));
        // Not UTF-8: replaced, not refused.
        Files.write(dir.resolve(RunDir.CONSOLE_TAIL), new byte[] {'o', 'k', (byte) 0xff, '\n'});
        assertEquals("ok\uFFFD\n", RunDir.readConsoleTail(dir));
    }
}
