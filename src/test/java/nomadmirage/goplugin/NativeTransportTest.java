package nomadmirage.goplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeTransportTest {
    @TempDir
    Path tmp;

    private static int uid(Path path) throws IOException {
        return (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void createsAPrivateDirectoryAndTightensAnExistingOneOfOurs() throws Exception {
        int me = uid(tmp);
        Path dir = tmp.resolve("a/b/native");
        NativeTransport.privateDirectory(dir, me);
        assertEquals("rwx------", mode(dir));

        Path loose = Files.createDirectory(tmp.resolve("loose"));
        Files.setPosixFilePermissions(loose, PosixFilePermissions.fromString("rwxr-xr-x"));
        NativeTransport.privateDirectory(loose, me);
        assertEquals("rwx------", mode(loose));
    }

    @Test
    void refusesASymbolicLinkOrAFile() throws Exception {
        int me = uid(tmp);
        Path target = Files.createDirectory(tmp.resolve("elsewhere"));
        Path link = Files.createSymbolicLink(tmp.resolve("native"), target);
        IOException e = assertThrows(IOException.class, () -> NativeTransport.privateDirectory(link, me));
        assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
        Path file = Files.writeString(tmp.resolve("file"), "x");
        assertThrows(IOException.class, () -> NativeTransport.privateDirectory(file, me));
    }

    @Test
    void refusesADirectoryOfAnotherUser() throws Exception {
        Assumptions.assumeTrue(uid(tmp) == 0, "needs root to chown");
        Path theirs = Files.createDirectory(tmp.resolve("theirs"));
        Files.setAttribute(theirs, "unix:uid", 65534);
        IOException e = assertThrows(IOException.class, () -> NativeTransport.privateDirectory(theirs, 0));
        assertTrue(e.getMessage().contains("owned by uid 65534"), e.getMessage());

        Path parent = Files.createDirectory(tmp.resolve("their-parent"));
        Files.setAttribute(parent, "unix:uid", 65534);
        IOException above = assertThrows(IOException.class,
                () -> NativeTransport.privateDirectory(parent.resolve("native"), 0));
        assertTrue(above.getMessage().contains(parent + " (above"), above.getMessage());
    }

    @Test
    void refusesADirectoryBelowOneOthersMayWriteUnlessItIsSticky() throws Exception {
        int me = uid(tmp);
        Path open = Files.createDirectory(tmp.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException e = assertThrows(IOException.class,
                () -> NativeTransport.privateDirectory(open.resolve("native"), me));
        assertTrue(e.getMessage().contains("writable by other users"), e.getMessage());

        Path sticky = Files.createDirectory(tmp.resolve("sticky"));
        Files.setAttribute(sticky, "unix:mode", 01777);
        NativeTransport.privateDirectory(sticky.resolve("native"), me);
    }

    @Test
    void anOperatorsWorkDirIsKeptAndANonRootPluginKeepsNettysDefault() throws Exception {
        String before = System.getProperty(NativeTransport.WORKDIR_PROPERTY);
        try {
            System.setProperty(NativeTransport.WORKDIR_PROPERTY, tmp.toString());
            assertEquals(Optional.of(tmp), NativeTransport.chooseWorkDir(0));
            System.clearProperty(NativeTransport.WORKDIR_PROPERTY);
            assertEquals(Optional.empty(), NativeTransport.chooseWorkDir(1000));
            assertEquals(null, System.getProperty(NativeTransport.WORKDIR_PROPERTY));
        } finally {
            if (before == null) {
                System.clearProperty(NativeTransport.WORKDIR_PROPERTY);
            } else {
                System.setProperty(NativeTransport.WORKDIR_PROPERTY, before);
            }
        }
    }
}
