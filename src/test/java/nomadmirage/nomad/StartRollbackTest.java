package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import nomadmirage.driver.HostFailureException;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.proc.LaunchException;
import nomadmirage.proc.PrivateDevice;
import nomadmirage.proc.TaskUser;
import nomadmirage.state.AtomicFiles;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A start that fails at any acquisition step undoes everything acquired before it, in reverse
 * order, and leaves nothing: no run directory, no created block file, no tap, no live tender — so
 * the same start succeeds once the cause is gone. The journal's probe shows, at each host step,
 * what existed then: run dir, block files a and b, the task's taps, live tenders.
 */
class StartRollbackTest extends InProcessPluginTest {
    TaskFixture t;
    Path a;
    Path b;

    @BeforeEach
    void twoBlockDevices() throws IOException {
        // A networked unikernel with two block devices whose files the driver creates.
        t = p.task("alloc1/web/0001").net("service")
                .newBlock("a", "local/a.img", 8192)
                .newBlock("b", "local/disks/b.img", 8192);
        Files.createDirectories(t.taskDir().resolve("local/disks"));
        a = t.taskDir().resolve("local/a.img");
        b = t.taskDir().resolve("local/disks/b.img");
        p.journal.probe(() -> "rundir=" + Files.exists(t.runDir()) + " a=" + Files.exists(a) + " b=" + Files.exists(b)
                + " taps=" + p.networks.tapsOf(t.id).size() + " tenders=" + p.supervisor.alive().size());
    }

    /** The host steps of the journal (what the fakes saw), in order. */
    private List<String> hostSteps() {
        return p.journal.matching("users.", "network.", "supervisor.", "signal ", "exit ");
    }

    private void assertNothingLeft() {
        assertFalse(Files.exists(t.runDir()), "run dir left");
        assertFalse(Files.exists(a), "block file a left");
        assertFalse(Files.exists(b), "block file b left");
        assertEquals(List.of(), List.copyOf(p.networks.attached()), "network left");
        assertEquals(List.of(), p.supervisor.alive(), "tender left");
        assertFalse(p.tracked(t.id));
        assertEquals(0, p.service().openStreams());
    }

    /** Once the cause is gone, the same start (same task id) succeeds. */
    private void assertStartSucceedsAfterwards() {
        p.users.failResolve(null);
        p.users.resolveTo(Optional.empty());
        p.networks.failAttach(null);
        p.networks.duringAttach(() -> { });
        p.supervisor.beforeLaunch(r -> { });
        p.start(t);
        assertTrue(p.tracked(t.id));
        assertTrue(Files.exists(a) && Files.exists(b));
        assertEquals(1, p.supervisor.alive().size());
    }

    private void assertFailure(InProcessPlugin.StartFailure f, boolean recoverable, String messageStart) {
        assertEquals(Status.Code.FAILED_PRECONDITION, f.code());
        assertEquals(recoverable, f.recoverable(), f.message());
        assertTrue(f.message().startsWith(messageStart), f.message());
    }

    @Test
    void userLookupFailsBeforeAnythingIsAcquired() {
        p.users.failResolve(new InvalidTaskException("user: \"nobody\" does not exist on this node"));
        assertFailure(p.startFailure(t), false, "user: ");
        assertEquals(List.of("users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0"), hostSteps());
        assertNothingLeft();

        p.users.failResolve(new HostFailureException("cannot read the user database"));
        assertFailure(p.startFailure(t), true, "cannot read the user database");
        assertNothingLeft();
        assertStartSucceedsAfterwards();
    }

    @Test
    void noPerTaskUidLeftFailsAfterTheRunDirectoryAndReleasesIt() {
        p.configure(Map.of("default_user", "", "dynamic_user_min", 81000L, "dynamic_user_max", 81000L));
        p.users.resolveTo(Optional.of(new TaskUser(1000, 1000, List.of())));
        TaskFixture holder = p.task("alloc2/holder/0001");
        p.start(holder);
        assertEquals(81000, p.supervisor.last().request().user().uid(), "the one uid of the range");

        assertFailure(p.startFailure(t), true, "every per-task uid of this node (81000..81000, 1) is held");
        assertFalse(Files.exists(t.runDir()), "run dir left");
        assertFalse(Files.exists(a) || Files.exists(b), "block file left");
        assertTrue(p.networks.tapsOf(t.id).isEmpty(), "taps left");
        assertEquals(1, p.supervisor.alive().size(), "only the holder runs");

        p.destroy(holder.id, true);
        p.start(t);
        assertEquals(81000, p.supervisor.last().request().user().uid(), "a destroyed task's uid is free again");
        assertTrue(p.supervisor.last().request().user().exclusive());
        assertTrue(p.supervisor.last().request().privateDevices().contains(PrivateDevice.TUN),
                "a networked tender gets a /dev/net/tun of its own");
    }

    @Test
    void networkAttachFailsAfterTheRunDirectory() {
        p.networks.failAttach(new NetworkSetupException("ip tuntap add failed: busy"));
        assertFailure(p.startFailure(t), true, "network setup failed: ");
        assertEquals(List.of(
                "users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0",
                "network.attach alloc1/web/0001 [service] | rundir=true a=false b=false taps=0 tenders=0"), hostSteps());
        assertNothingLeft();

        p.journal.clear();
        p.networks.failAttach(new InvalidNetworkRequestException("service", "mac", "01:00:00:00:00:01", "multicast"));
        assertFailure(p.startFailure(t), false, "network: ");
        assertNothingLeft();
        assertStartSucceedsAfterwards();
    }

    @Test
    void blockFileCreationFailsAfterTheNetworkAndTheFirstBlockFile() {
        // The directory of block b disappears after planning (inside attach), so creating b fails.
        p.networks.duringAttach(() -> {
            try {
                AtomicFiles.deleteTree(t.taskDir().resolve("local/disks"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        // The job's own directory vanished under the start: a job error, refused without following anything.
        assertFailure(p.startFailure(t), false, "block[1].path: cannot create the block file " + b);
        assertEquals(List.of(
                "users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0",
                "network.attach alloc1/web/0001 [service] | rundir=true a=false b=false taps=0 tenders=0",
                // undo in reverse: block file a is gone before the network is detached, the run dir after.
                "network.detach alloc1/web/0001 | rundir=true a=false b=false taps=1 tenders=0"), hostSteps());
        assertNothingLeft();
        p.networks.duringAttach(() -> { });
        try {
            Files.createDirectories(t.taskDir().resolve("local/disks"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertStartSucceedsAfterwards();
    }

    @Test
    void supervisorLaunchFailsAfterTheBlockFiles() {
        p.supervisor.failNextLaunch(new LaunchException("the tender did not start within PT30S"));
        assertFailure(p.startFailure(t), true, "could not start solo5-spt: the tender did not start");
        assertEquals(List.of(
                "users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0",
                "network.attach alloc1/web/0001 [service] | rundir=true a=false b=false taps=0 tenders=0",
                "supervisor.launch alloc1.web.0001 | rundir=true a=true b=true taps=1 tenders=0",
                "network.detach alloc1/web/0001 | rundir=true a=false b=false taps=1 tenders=0"), hostSteps());
        assertNothingLeft();
        assertStartSucceedsAfterwards();
    }

    @Test
    void anUnexpectedBugAtLaunchIsRolledBackAlikeButUnrecoverable() {
        p.supervisor.failNextLaunch(new IllegalStateException("bug"));
        assertFailure(p.startFailure(t), false, "internal error in the mirage driver: java.lang.IllegalStateException: bug");
        assertEquals(List.of(
                "users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0",
                "network.attach alloc1/web/0001 [service] | rundir=true a=false b=false taps=0 tenders=0",
                "supervisor.launch alloc1.web.0001 | rundir=true a=true b=true taps=1 tenders=0",
                "network.detach alloc1/web/0001 | rundir=true a=false b=false taps=1 tenders=0"), hostSteps());
        assertNothingLeft();
        assertStartSucceedsAfterwards();
    }

    @Test
    void theTaskRecordCannotBeWrittenAfterTheTenderRuns() {
        // Root ignores a read-only mode, so the record's place is taken by a non-empty directory instead. The
        // record is written while the tender starts, so the obstacle is there before the launch.
        p.networks.duringAttach(() -> {
            try {
                Files.createDirectories(t.runDir().resolve("task.json").resolve("in-the-way"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertFailure(p.startFailure(t), true, "cannot record the task in " + t.runDir());
        assertEquals(List.of(
                "users.resolve nobody | rundir=false a=false b=false taps=0 tenders=0",
                "network.attach alloc1/web/0001 [service] | rundir=true a=false b=false taps=0 tenders=0",
                "supervisor.launch alloc1.web.0001 | rundir=true a=true b=true taps=1 tenders=0",
                // the tender is killed first and awaited, then the block files, the network, the run dir
                "signal pid 1002 (alloc1.web.0001) SIGKILL | rundir=true a=true b=true taps=1 tenders=1",
                "exit pid 1002 (alloc1.web.0001) by SIGKILL | rundir=true a=true b=true taps=1 tenders=1",
                "network.detach alloc1/web/0001 | rundir=true a=false b=false taps=1 tenders=0"), hostSteps());
        assertEquals(List.of(9), p.supervisor.last().signals(), "only SIGKILL: a half-started task gets no grace");
        assertNothingLeft();
        p.networks.duringAttach(() -> { });
        assertStartSucceedsAfterwards();
    }
}
