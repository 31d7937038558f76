package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import nomadmirage.config.UidRange;
import nomadmirage.state.StateDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TaskUidsTest {
    @TempDir
    Path root;

    private StateDirectory state() {
        return new StateDirectory(root);
    }

    private Path runDirWith(String task, int uid) throws Exception {
        Path dir = state().runDir(task);
        Files.createDirectories(dir);
        TaskUids.record(dir, uid);
        return dir;
    }

    @Test
    void everyLiveTaskHoldsADifferentUidUntilTheRangeIsUsedUp() throws Exception {
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(81000, 81004);
        List<Integer> given = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            given.add(uids.allocate(state(), range));
        }
        assertEquals(List.of(81000, 81001, 81002, 81003, 81004), given);
        HostFailureException full = assertThrows(HostFailureException.class, () -> uids.allocate(state(), range));
        assertTrue(full.getMessage().contains("81000..81004"), full.getMessage());
        uids.release(81002);
        assertEquals(81002, uids.allocate(state(), range), "the one freed");
    }

    @Test
    void aUidHeldUntilReleasedOutlivesItsRunDirectoryAndAResync() throws Exception {
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(81000, 81001);
        int uid = uids.allocate(state(), range);
        uids.holdUntilReleased(uid);
        uids.resync(state()); // no run directory records it any more, as after a destroy
        assertTrue(uids.isHeld(uid), "a destroyed task's taps, owned by its uid, are still being removed");
        assertEquals(81001, uids.allocate(state(), range));
        uids.release(uid);
        uids.resync(state());
        assertFalse(uids.isHeld(uid));
    }

    @Test
    void aFreedUidIsTheLastToBeGivenAgain() throws Exception {
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(81000, 81002);
        int first = uids.allocate(state(), range);
        uids.release(first);
        assertEquals(81001, uids.allocate(state(), range));
        assertEquals(81002, uids.allocate(state(), range));
        assertEquals(81000, uids.allocate(state(), range), "round robin wraps to the freed one last");
    }

    @Test
    void uidsOfTasksFromBeforeARestartAreHeldEvenBeforeTheyAreRecovered() throws Exception {
        runDirWith("alloc1.web.0001", 81000);
        runDirWith("alloc1.web.0002", 81002);
        Path junk = state().runDir("alloc1.junk.0001");
        Files.createDirectories(junk);
        Files.writeString(StateDirectory.ownUid(junk), "not a number");
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(81000, 81003);
        assertEquals(81001, uids.allocate(state(), range));
        assertEquals(81003, uids.allocate(state(), range));
        assertTrue(uids.isHeld(81000) && uids.isHeld(81002));
    }

    @Test
    void aUidThatPasswdNamesIsNeverGivenOut() throws Exception {
        Path passwd = root.resolve("passwd");
        Files.writeString(passwd, "root:x:0:0:root:/root:/bin/bash\nalice:x:81001:81001::/home/alice:/bin/sh\n"
                + "broken line\nbob:x:notanumber:1::/:/bin/sh\n");
        TaskUids uids = new TaskUids(passwd);
        UidRange range = new UidRange(81000, 81002);
        assertEquals(List.of(81000, 81002), List.of(uids.allocate(state(), range), uids.allocate(state(), range)));
        assertThrows(HostFailureException.class, () -> uids.allocate(state(), range), "alice's uid is not a task's");
    }

    @Test
    void resyncForgetsUidsWhoseRunDirectoryIsGone() throws Exception {
        Path orphan = runDirWith("alloc1.web.0001", 81000);
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(81000, 81001);
        assertEquals(81001, uids.allocate(state(), range));
        runDirWith("alloc1.web.0002", 81001);
        nomadmirage.state.AtomicFiles.deleteTree(orphan);
        uids.resync(state());
        assertFalse(uids.isHeld(81000), "the orphan's uid is free");
        assertTrue(uids.isHeld(81001), "a recorded task keeps its uid");
        assertEquals(81000, uids.allocate(state(), range));
    }

    @Test
    void manyStartsNeverShareAUid() throws Exception {
        TaskUids uids = new TaskUids(root.resolve("no-passwd"));
        UidRange range = new UidRange(100000, 100499);
        List<Thread> threads = new ArrayList<>();
        java.util.Set<Integer> seen = java.util.Collections.synchronizedSet(new HashSet<>());
        java.util.concurrent.atomic.AtomicInteger duplicates = new java.util.concurrent.atomic.AtomicInteger();
        for (int t = 0; t < 4; t++) {
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 125; i++) {
                    try {
                        if (!seen.add(uids.allocate(state(), range))) {
                            duplicates.incrementAndGet();
                        }
                    } catch (HostFailureException e) {
                        throw new AssertionError(e);
                    }
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(0, duplicates.get());
        assertEquals(500, seen.size());
    }
}
