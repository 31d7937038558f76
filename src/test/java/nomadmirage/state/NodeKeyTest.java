package nomadmirage.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeKeyTest {
    @TempDir
    Path tmp;

    private Path stateDir() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("state"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        return dir;
    }

    @Test
    void theKeyIsMadeOnFirstUseOwnerOnlyAndReadBackTheSame() throws Exception {
        Path file = new StateDirectory(stateDir()).driverStateKey();
        assertEquals(Optional.empty(), NodeKey.load(file));
        byte[] key = NodeKey.loadOrCreate(file);
        assertEquals(NodeKey.LENGTH, key.length);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS)));
        assertEquals(NodeKey.effectiveUid(), Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS));
        assertArrayEquals(key, NodeKey.loadOrCreate(file));
        assertArrayEquals(key, NodeKey.load(file).orElseThrow());
        try (var left = Files.list(file.getParent())) {
            assertEquals(List.of(file), left.toList(), "no temporary file is left");
        }
    }

    @Test
    void pluginsCreatingTheKeyAtOnceAllGetTheSameKey() throws Exception {
        Path file = new StateDirectory(stateDir()).driverStateKey();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<byte[]>> keys = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                keys.add(pool.submit((Callable<byte[]>) () -> NodeKey.loadOrCreate(file)));
            }
            byte[] first = keys.getFirst().get();
            for (Future<byte[]> k : keys) {
                assertArrayEquals(first, k.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aSymbolicLinkIsNeverFollowedToAKey() throws Exception {
        Path dir = stateDir();
        Path elsewhere = tmp.resolve("elsewhere.key");
        Files.write(elsewhere, new byte[NodeKey.LENGTH]);
        Files.setPosixFilePermissions(elsewhere, PosixFilePermissions.fromString("rw-------"));
        Path file = new StateDirectory(dir).driverStateKey();
        Files.createSymbolicLink(file, elsewhere);
        IOException e = assertThrows(IOException.class, () -> NodeKey.loadOrCreate(file));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    }

    @Test
    void aKeyOthersCanReadOrOfTheWrongSizeOrTypeIsRefused() throws Exception {
        Path dir = stateDir();
        Path file = new StateDirectory(dir).driverStateKey();
        Files.write(file, new byte[NodeKey.LENGTH]);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        assertTrue(assertThrows(IOException.class, () -> NodeKey.load(file)).getMessage().contains("rw-r--r--"));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        Files.write(file, new byte[7]);
        assertTrue(assertThrows(IOException.class, () -> NodeKey.load(file)).getMessage().contains("7 bytes"));
        Files.delete(file);
        Files.createDirectory(file);
        assertTrue(assertThrows(IOException.class, () -> NodeKey.load(file)).getMessage().contains("not a regular file"));
        Files.delete(file);
        assertEquals(0, new ProcessBuilder("mkfifo", "-m", "600", file.toString()).start().waitFor());
        assertTrue(assertThrows(IOException.class, () -> NodeKey.load(file)).getMessage().contains("not a regular file"),
                "a FIFO is refused before it is opened (which would block)");
    }

    @Test
    void aKeyOwnedBySomeoneElseIsRefused() throws Exception {
        assumeTrue(NodeKey.effectiveUid() == 0, "needs root to give the file away");
        Path file = new StateDirectory(stateDir()).driverStateKey();
        Files.write(file, new byte[NodeKey.LENGTH]);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        Files.setAttribute(file, "unix:uid", 65534);
        IOException e = assertThrows(IOException.class, () -> NodeKey.load(file));
        assertTrue(e.getMessage().contains("owned by uid 65534"), e.getMessage());
    }

    @Test
    void aStateDirectoryOthersCanWriteIsRefused() throws Exception {
        Path dir = stateDir();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path file = new StateDirectory(dir).driverStateKey();
        IOException e = assertThrows(IOException.class, () -> NodeKey.loadOrCreate(file));
        assertTrue(e.getMessage().contains("writable by nobody else"), e.getMessage());
        assertFalse(Files.exists(file, LinkOption.NOFOLLOW_LINKS));
    }
}
