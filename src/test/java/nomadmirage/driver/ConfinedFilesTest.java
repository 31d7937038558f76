package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import nomadmirage.proc.TaskUser;
import nomadmirage.state.Rollback;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Root's file operations in directories a job can write: links, FIFOs and swaps between a check and the
 * use that follows (made exact here through {@link ConfinedFiles.Interleaving}) never make the plugin
 * create, resize, chown or read anything outside, nor block.
 */
class ConfinedFilesTest {
    private static final long MIB = 1 << 20;
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    @TempDir
    Path tmp;

    private Path root;
    private Path etc;
    private Path shadow;
    private byte[] shadowContent;

    @BeforeEach
    void layout() throws IOException {
        root = Files.createDirectories(tmp.resolve("alloc-1/alloc")).toRealPath();
        Files.createDirectories(root.resolve("data/sub"));
        // As Nomad makes them: everybody may write the shared alloc directory.
        for (Path dir : List.of(root, root.resolve("data"), root.resolve("data/sub"))) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        }
        etc = Files.createDirectory(tmp.resolve("etc")).toRealPath();
        shadow = etc.resolve("shadow");
        shadowContent = "root:$6$secret:19000:0:99999:7:::\n".getBytes();
        Files.write(shadow, shadowContent);
        Files.setPosixFilePermissions(shadow, PosixFilePermissions.fromString("rw-r-----"));
    }

    private static ConfinedFiles files(ConfinedFiles.Interleaving interleaving) {
        return new ConfinedFiles(Duration.ofSeconds(60), interleaving);
    }

    private ConfinedPath at(String relative) {
        return new ConfinedPath(root, Path.of(relative));
    }

    private static Rollback rollback() {
        return new Rollback(Logger.root("test", new LogSink(OutputStream.nullOutputStream()), LogLevel.ERROR), "t", "");
    }

    private static StartPlan.NewBlockFile block(ConfinedPath file) {
        return new StartPlan.NewBlockFile("block[0].path", file, MIB);
    }

    private void assertEtcUntouched() throws IOException {
        try (Stream<Path> entries = Files.list(etc)) {
            assertEquals(List.of(shadow), entries.toList(), "only the target was there");
        }
        assertArrayEquals(shadowContent, Files.readAllBytes(shadow), "the target's content");
        assertEquals(0, Files.getAttribute(shadow, "unix:uid"), "the target's owner");
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(shadow)));
    }

    private static void swapForSymlink(Path entry, Path target) throws IOException {
        Files.move(entry, entry.resolveSibling(entry.getFileName() + ".moved"));
        Files.createSymbolicLink(entry, target);
    }

    private static void mkfifo(Path path) throws IOException, InterruptedException {
        assertEquals(0, new ProcessBuilder("mkfifo", "-m", "600", path.toString()).start().waitFor());
    }

    // --- block files -------------------------------------------------------------------------------------

    /** The confirmed attack: a link planted as a directory made root create ld.so.preload in its target. */
    @Test
    void aBlockFileIsNeverCreatedThroughASymlinkedDirectory() throws Exception {
        Files.delete(root.resolve("data/sub"));
        Files.createSymbolicLink(root.resolve("data/sub"), etc);
        try (Rollback cleanup = rollback()) {
            InvalidTaskException e = assertThrows(InvalidTaskException.class, () -> TaskFiles.createBlockFile(
                    files(ConfinedFiles.Interleaving.NONE), block(at("data/sub/ld.so.preload")), Optional.empty(),
                    cleanup));
            assertTrue(e.getMessage().startsWith("block[0].path: cannot create the block file"), e.getMessage());
            assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        }
        assertEtcUntouched();
    }

    @Test
    void aDirectorySwappedForASymlinkBetweenItsCheckAndItsOpenIsRefused() throws Exception {
        ConfinedFiles files = files((step, dir, name) -> {
            if (step.equals("open-directory") && name.toString().equals("sub")) {
                swapForSymlink(dir.resolve(name), etc);
            }
        });
        Rollback cleanup = rollback();
        InvalidTaskException e = assertThrows(InvalidTaskException.class,
                () -> TaskFiles.createBlockFile(files, block(at("data/sub/ld.so.preload")), Optional.empty(), cleanup));
        assertTrue(e.getMessage().contains("data/sub was replaced while it was opened"), e.getMessage());
        cleanup.close();
        assertEtcUntouched();
    }

    @Test
    void aDirectorySwappedForAnotherDirectoryBetweenItsCheckAndItsOpenIsRefused() throws Exception {
        Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
        ConfinedFiles files = files((step, dir, name) -> {
            if (step.equals("open-directory") && name.toString().equals("sub")) {
                Files.move(dir.resolve(name), dir.resolve("sub.moved"));
                Files.move(elsewhere, dir.resolve(name));
            }
        });
        InvalidTaskException e = assertThrows(InvalidTaskException.class,
                () -> TaskFiles.createBlockFile(files, block(at("data/sub/disk.img")), Optional.empty(), rollback()));
        assertTrue(e.getMessage().contains("was replaced while it was opened"), e.getMessage());
        assertFalse(Files.exists(root.resolve("data/sub/disk.img")));
    }

    @Test
    void aSymlinkPlantedAsTheBlockFileIsRefusedAndItsTargetUntouched() throws Exception {
        Files.createSymbolicLink(root.resolve("data/sub/disk.img"), shadow);
        Files.createSymbolicLink(root.resolve("data/sub/ld.so.preload"), etc.resolve("ld.so.preload"));
        for (String name : List.of("disk.img", "ld.so.preload")) {
            InvalidTaskException e = assertThrows(InvalidTaskException.class, () -> TaskFiles.createBlockFile(
                    files(ConfinedFiles.Interleaving.NONE), block(at("data/sub/" + name)),
                    Optional.of(new TaskUser(65534, 65534, List.of())), rollback()));
            assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        }
        assertEtcUntouched();
    }

    /**
     * The other confirmed attack: the name swapped after the creation made root resize and hand over the
     * target. The file is now complete and the task user's before it gets its name, and what the job puts
     * at that name meanwhile is refused (before the rename) or replaced by the rename (after), never
     * followed, resized nor chowned.
     */
    @Test
    void whatTheJobPlantsAtTheNameWhileTheFileIsMadeIsNeverResizedNorHandedOver() throws Exception {
        assumeTrue(isRoot(), "needs root to chown");
        for (String when : List.of("chown", "move")) {
            for (String planted : List.of("symlink", "hardlink", "fifo", "file")) {
                String label = planted + " planted before " + when;
                Path name = root.resolve("data/sub/" + planted + "-" + when + ".img");
                ConfinedFiles files = files((step, dir, entry) -> {
                    if (step.equals(when)) {
                        plant(planted, dir.resolve(entry));
                    }
                });
                Rollback cleanup = rollback();
                StartPlan.NewBlockFile file = block(new ConfinedPath(root, root.relativize(name)));
                Optional<TaskUser> nobody = Optional.of(new TaskUser(65534, 65534, List.of()));
                if (when.equals("chown")) {
                    InvalidTaskException e = assertThrows(InvalidTaskException.class,
                            () -> TaskFiles.createBlockFile(files, file, nobody, cleanup), label);
                    assertTrue(e.getMessage().contains("already exists"), label + ": " + e.getMessage());
                    assertEquals(0, Files.getAttribute(name, "unix:uid", NOFOLLOW), label + ": handed over");
                } else {
                    // After the last check the rename replaces the planted name: the job's own entry, unfollowed.
                    TaskFiles.createBlockFile(files, file, nobody, cleanup);
                    assertTrue(Files.isRegularFile(name, NOFOLLOW), label);
                    assertEquals(MIB, Files.size(name), label);
                    assertEquals(65534, Files.getAttribute(name, "unix:uid", NOFOLLOW), label);
                }
                cleanup.close();
                assertEtcUntouched();
                try (Stream<Path> left = Files.list(root)) {
                    assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith(".mirage-")),
                            label + ": the staging directory is gone");
                }
            }
        }
    }

    private void plant(String what, Path at) throws IOException {
        switch (what) {
            case "symlink" -> Files.createSymbolicLink(at, shadow);
            case "hardlink" -> Files.createLink(at, shadow);
            case "fifo" -> {
                try {
                    mkfifo(at);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            default -> Files.write(at, new byte[(int) MIB]);
        }
    }

    @Test
    void aStagingDirectorySwappedForTheJobsOwnIsRefused() throws Exception {
        assumeTrue(isRoot(), "needs root to chown");
        Path jobs = Files.createDirectory(tmp.resolve("jobs-own"));
        Files.setAttribute(jobs, "unix:uid", 65534);
        ConfinedFiles files = files((step, dir, name) -> {
            if (step.equals("staging")) {
                Files.delete(dir.resolve(name));
                Files.move(jobs, dir.resolve(name));
            }
        });
        InvalidTaskException e = assertThrows(InvalidTaskException.class, () -> TaskFiles.createBlockFile(files,
                block(at("data/sub/disk.img")), Optional.of(new TaskUser(65534, 65534, List.of())), rollback()));
        assertTrue(e.getMessage().contains("not the plugin's own"), e.getMessage());
        assertFalse(Files.exists(root.resolve("data/sub/disk.img"), NOFOLLOW));
    }

    @Test
    void aNewBlockFileIsSparseAtItsSizeOwnerOnlyAndTheTaskUsers() throws Exception {
        assumeTrue(isRoot(), "needs root to chown");
        Rollback cleanup = rollback();
        TaskFiles.createBlockFile(files(ConfinedFiles.Interleaving.NONE), block(at("data/sub/disk.img")),
                Optional.of(new TaskUser(65534, 65533, List.of())), cleanup);
        Path disk = root.resolve("data/sub/disk.img");
        assertEquals(MIB, Files.size(disk));
        assertEquals(65534, Files.getAttribute(disk, "unix:uid", NOFOLLOW));
        assertEquals(65533, Files.getAttribute(disk, "unix:gid", NOFOLLOW));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(disk, NOFOLLOW)));
        assertArrayEquals(new byte[(int) MIB], Files.readAllBytes(disk));
        cleanup.close();
        assertFalse(Files.exists(disk, NOFOLLOW), "the rollback removes the file the start created");
    }

    @Test
    void theRollbackLeavesAFileTheJobPutInPlaceOfTheCreatedOne() throws Exception {
        Rollback cleanup = rollback();
        TaskFiles.createBlockFile(files(ConfinedFiles.Interleaving.NONE), block(at("data/sub/disk.img")),
                Optional.empty(), cleanup);
        Path disk = root.resolve("data/sub/disk.img");
        Files.delete(disk);
        Files.writeString(disk, "the job's own");
        cleanup.close();
        assertEquals("the job's own", Files.readString(disk));
    }

    @Test
    void anExistingBlockFileIsCheckedWithoutFollowingLinks() throws Exception {
        Path disk = root.resolve("data/sub/disk.img");
        Files.write(disk, new byte[4096]);
        ConfinedFiles files = files(ConfinedFiles.Interleaving.NONE);
        TaskFiles.checkBlockFile(files, new StartPlan.ExistingBlockFile("block[0].path", at("data/sub/disk.img"), 512));
        Files.delete(disk);
        Files.createSymbolicLink(disk, shadow);
        InvalidTaskException e = assertThrows(InvalidTaskException.class, () -> TaskFiles.checkBlockFile(files,
                new StartPlan.ExistingBlockFile("block[0].path", at("data/sub/disk.img"), 512)));
        assertTrue(e.getMessage().contains("is a symbolic link, not a regular file"), e.getMessage());
        Files.delete(disk);
        Files.write(disk, new byte[1000]);
        assertTrue(assertThrows(InvalidTaskException.class, () -> TaskFiles.checkBlockFile(files,
                new StartPlan.ExistingBlockFile("block[0].path", at("data/sub/disk.img"), 512)))
                .getMessage().contains("1000 bytes"));
    }

    // --- reading (the unikernel) ---------------------------------------------------------------------------

    private static String readAll(ConfinedFiles files, ConfinedPath file) throws IOException {
        return files.read(file, channel -> {
            ByteBuffer buffer = ByteBuffer.allocate((int) channel.size());
            channel.read(buffer, 0);
            return new String(buffer.array());
        });
    }

    @Test
    void aRegularFileIsRead() throws Exception {
        Files.writeString(root.resolve("data/sub/app.hvt"), "ELF");
        assertEquals("ELF", readAll(files(ConfinedFiles.Interleaving.NONE), at("data/sub/app.hvt")));
    }

    @Test
    void aFifoLinkOrLinkedDirectoryIsRefusedWithoutBeingOpened() throws Exception {
        mkfifo(root.resolve("data/sub/fifo.hvt"));
        Files.createSymbolicLink(root.resolve("data/sub/link.hvt"), shadow);
        Files.createSymbolicLink(root.resolve("data/linked"), etc);
        Files.createFile(root.resolve("data/sub/empty.hvt"));
        ConfinedFiles files = files(ConfinedFiles.Interleaving.NONE);
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/sub/fifo.hvt")))
                .getMessage().contains("a FIFO, socket or device, not a regular file"));
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/sub/link.hvt")))
                .getMessage().contains("a symbolic link, not a regular file"));
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/linked/shadow")))
                .getMessage().contains("data/linked is a symbolic link, not a directory"));
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/sub/empty.hvt")))
                .getMessage().contains("is empty"));
    }

    /**
     * A FIFO swapped in between the check and the open used to block the open (and StartTask, as root) until
     * a writer came. It is opened read-write, which never waits, and refused on the descriptor. The limit is a
     * minute: had the open blocked, the refusal would say that the time ran out instead.
     */
    @Test
    void aFifoSwappedInBetweenTheCheckAndTheOpenIsRefusedWithoutBlocking() throws Exception {
        Files.writeString(root.resolve("data/sub/app.hvt"), "ELF");
        ConfinedFiles files = files((step, dir, name) -> {
            if (step.equals("open-file")) {
                Files.move(dir.resolve(name), dir.resolve("app.real"));
                try {
                    mkfifo(dir.resolve(name));
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
        });
        ConfinedFiles.Refused e = assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/sub/app.hvt")));
        assertTrue(e.getMessage().contains("was replaced by a FIFO or another special file while it was opened"),
                e.getMessage());
    }

    @Test
    void aFileSwappedForAnotherBetweenTheCheckAndTheOpenIsRefused() throws Exception {
        Files.writeString(root.resolve("data/sub/app.hvt"), "ELF");
        ConfinedFiles files = files((step, dir, name) -> {
            if (step.equals("open-file")) {
                Files.move(dir.resolve(name), dir.resolve("app.real"));
                Files.writeString(dir.resolve(name), "EVIL");
            }
        });
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(files, at("data/sub/app.hvt")))
                .getMessage().contains("was replaced or changed while it was opened"));
        ConfinedFiles linking = files((step, dir, name) -> {
            if (step.equals("open-file")) {
                swapForSymlink(dir.resolve(name), shadow);
            }
        });
        Files.writeString(root.resolve("data/sub/other.hvt"), "ELF");
        assertTrue(assertThrows(ConfinedFiles.Refused.class, () -> readAll(linking, at("data/sub/other.hvt")))
                .getMessage().contains("cannot be opened"));
    }

    /**
     * Java opens a directory without O_DIRECTORY nor O_NONBLOCK: a FIFO swapped in for a directory between its
     * check and its open blocks that open. The caller gives up after its limit and refuses; the blocked
     * thread ends once the FIFO is opened (here by the test), and then creates nothing.
     */
    @Test
    void aFifoSwappedInForADirectoryBlocksOnlyItsOwnThreadUntilTheLimit() throws Exception {
        Path fifo = root.resolve("data/sub");
        ConfinedFiles files = new ConfinedFiles(Duration.ofMillis(300), (step, dir, name) -> {
            if (step.equals("open-directory") && name.toString().equals("sub")) {
                Files.move(dir.resolve(name), dir.resolve("sub.moved"));
                try {
                    mkfifo(dir.resolve(name));
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
        });
        ConfinedFiles.Refused e = assertThrows(ConfinedFiles.Refused.class,
                () -> files.create(at("data/sub/disk.img"), MIB, Optional.empty()));
        assertTrue(e.getMessage().contains("did not finish within 300 ms"), e.getMessage());
        // Release the blocked open: a read-write open of a FIFO never waits, and counts as its writer.
        try (FileChannel writer = FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            writer.size();
        }
        // The released operation then fails on the FIFO and removes its staging directory; only once that is
        // gone has it finished (else it races the layout being put back and the temp dir's removal).
        awaitNoStagingDirectory();
        Files.delete(fifo);
        Files.move(root.resolve("data/sub.moved"), fifo);
        assertFalse(Files.exists(fifo.resolve("disk.img")));
    }

    private void awaitNoStagingDirectory() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            try (java.util.stream.Stream<Path> entries = Files.list(root)) {
                if (entries.noneMatch(p -> p.getFileName().toString().startsWith(".mirage-"))) {
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the released operation left its staging directory in " + root);
            }
            Thread.sleep(10);
        }
    }

    private static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }
}
