package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import nomadmirage.cgroup.CgroupRequest;
import nomadmirage.proc.CgroupJoin;
import nomadmirage.proc.LaunchException;
import nomadmirage.tender.TenderKind;
import org.junit.jupiter.api.Test;

/**
 * How the lifecycle uses a task's cgroups (on the fake v1 host): the task's resources reach the
 * planner, the planned cgroups reach the supervisor, and a failed start, a destroy and a reconcile
 * remove them.
 */
class CgroupLifecycleTest extends InProcessPluginTest {
    private List<String> cgroupAndLaunchSteps() {
        return p.journal.matching("cgroups.", "supervisor.launch");
    }

    @Test
    void theTasksResourcesArePlannedAndItsCgroupsGoToTheSupervisor() {
        TaskFixture t = p.task("alloc1/web/0001").resources(1500, 64, "2,3", "/fake/cgroup/cpuset/nomad/reserved/a-web");
        p.start(t);
        assertEquals(List.of(new CgroupRequest(TenderKind.SOLO5_SPT, 1500, 32, 64, "2,3",
                "/fake/cgroup/cpuset/nomad/reserved/a-web")), p.cgroups.requests());
        String name = t.runDir().getFileName().toString();
        List<CgroupJoin> joins = p.supervisor.last().request().cgroups();
        assertEquals(List.of(Path.of("/fake/cgroup/cpu,cpuacct/nomad-mirage", name),
                Path.of("/fake/cgroup/memory/nomad-mirage", name), Path.of("/fake/cgroup/pids/nomad-mirage", name),
                Path.of("/fake/cgroup/cpuset/nomad/reserved/a-web")), joins.stream().map(CgroupJoin::dir).toList());
        assertEquals(new CgroupJoin.Write("cpu.shares", "1500"), joins.getFirst().writes().getFirst());
        assertFalse(joins.getLast().owned(), "Nomad's cpuset cgroup is joined, not owned");
    }

    @Test
    void aFailedLaunchRemovesTheCgroupsItsSupervisorMayHaveCreated() {
        TaskFixture t = p.task("alloc1/web/0001").resources(500, 0, "", "");
        String name = t.runDir().getFileName().toString();
        p.supervisor.failNextLaunch(new LaunchException("the tender did not start within PT30S"));
        assertEquals(Status.Code.FAILED_PRECONDITION, p.startFailure(t).code());
        assertEquals(List.of("cgroups.plan " + name, "supervisor.launch " + name, "cgroups.remove " + name),
                cgroupAndLaunchSteps());
        assertEquals(Set.of(), p.cgroups.present());
    }

    @Test
    void coresNomadSentMalformedAreRefusedBeforeAnyCgroupExists() {
        TaskFixture t = p.task("alloc1/web/0001").resources(500, 0, "2;3", "");
        InProcessPlugin.StartFailure f = p.startFailure(t);
        assertFalse(f.recoverable(), f.message());
        assertTrue(f.message().startsWith("resources: cpuset_cpus: \"2;3\""), f.message());
        assertEquals(Set.of(), p.cgroups.present());
        assertTrue(p.supervisor.alive().isEmpty());
    }

    @Test
    void destroyRemovesTheTasksCgroups() {
        TaskFixture t = p.task("alloc1/web/0001").resources(500, 0, "", "");
        p.start(t);
        String name = t.runDir().getFileName().toString();
        assertEquals(Set.of(name), p.cgroups.present());
        p.destroy(t.id, true);
        assertEquals(Set.of(), p.cgroups.present());
    }

    @Test
    void aReconcileKeepsTheCgroupsOfRunDirectoriesAndRemovesTheRest() {
        TaskFixture kept = p.task("alloc1/kept/0001").resources(500, 0, "", "");
        p.start(kept);
        // An orphan's cgroups: planned for a start whose run directory is gone.
        p.cgroups.plan(p.driver().config(), "orphan", new CgroupRequest(TenderKind.SOLO5_HVT, 100, 16, 0, "", ""));
        p.tasks().reconcile(Duration.ZERO);
        assertEquals(Set.of(kept.runDir().getFileName().toString()), p.cgroups.present());
    }
}
