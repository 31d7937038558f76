package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import nomadmirage.config.Ipv4Cidr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IpamTest {
    private static final Optional<String> DERIVED = Optional.empty();

    @TempDir
    Path stateDir;

    private Ipam ipam(String subnet) {
        return new Ipam(NetworkSettings.withDefaults("mirage0", Ipv4Cidr.parse(subnet), stateDir));
    }

    @Test
    void allocatesTheLowestFreeAddressAfterTheGateway() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        assertEquals("10.99.0.2", ipam.allocate("t1", "service", DERIVED).ip());
        assertEquals("10.99.0.3", ipam.allocate("t2", "service", DERIVED).ip());
        assertEquals("10.99.0.4", ipam.allocate("t2", "admin", DERIVED).ip());
        ipam.release("t1");
        assertEquals("10.99.0.2", ipam.allocate("t3", "service", DERIVED).ip(), "a released address is reused first");
    }

    @Test
    void twoPoolsOnOneStateDirectorySeeEachOthersLeasesThoughEachCachesTheFile() throws Exception {
        Ipam one = ipam("10.99.0.0/24");
        Ipam other = ipam("10.99.0.0/24"); // another plugin process on the node
        assertEquals("10.99.0.2", one.allocate("t1", "service", DERIVED).ip());
        assertEquals("10.99.0.3", other.allocate("t2", "service", DERIVED).ip());
        assertEquals("10.99.0.4", one.allocate("t3", "service", DERIVED).ip(), "one's cache must not hide t2");
        other.release("t1");
        assertEquals(List.of("t2", "t3"), one.leases().stream().map(Lease::taskId).toList());
        assertEquals(List.of("t3"), one.release(List.of("t3", "gone")).stream().map(Lease::taskId).toList());
        assertEquals(List.of("t2"), other.leases().stream().map(Lease::taskId).toList());
    }

    @Test
    void leaseCarriesTheDerivedMacAndTap() throws Exception {
        Lease lease = ipam("10.99.0.0/24").allocate("t1", "service", DERIVED);
        assertEquals(MacAddresses.derive("00:80:41", "t1", "service"), lease.mac());
        assertEquals(TapNames.forDevice("t1", "service"), lease.tap());
    }

    @Test
    void allocatingAgainForTheSameDeviceReturnsTheSameLease() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        Lease first = ipam.allocate("t1", "service", DERIVED);
        assertEquals(first, ipam.allocate("t1", "service", DERIVED));
        assertEquals(first, ipam("10.99.0.0/24").allocate("t1", "service", DERIVED), "also for a new instance");
        assertEquals(1, ipam.leases().size());
    }

    @Test
    void leasesSurviveANewInstance() throws Exception {
        ipam("10.99.0.0/24").allocate("t1", "service", DERIVED);
        ipam("10.99.0.0/24").allocateStatic("t2", "service", "10.99.0.77", DERIVED);
        Ipam reopened = ipam("10.99.0.0/24");
        assertEquals(List.of("10.99.0.2", "10.99.0.77"), reopened.leases().stream().map(Lease::ip).toList());
        assertEquals("10.99.0.3", reopened.allocate("t3", "service", DERIVED).ip());
        String snapshot = Files.readString(stateDir.resolve("network/leases.json"));
        assertTrue(snapshot.contains("\"subnet\":\"10.99.0.0/24\""), snapshot);
        assertTrue(snapshot.contains("\"task_id\":\"t1\""), "the first lease writes the snapshot: " + snapshot);
        List<String> journal = Files.readAllLines(stateDir.resolve("network/leases.journal"));
        assertEquals(2, journal.size(), "later ones are appended: " + journal);
        assertTrue(journal.get(0).contains("\"task_id\":\"t2\""), journal.toString());
        assertEquals(List.of("t1", "t2", "t3"), Ipam.stored(new nomadmirage.state.StateDirectory(stateDir)).stream()
                .map(Lease::taskId).toList(), "what a reader outside the plugin sees");
    }

    @Test
    void aStartAppendsOneLineAndLeavesTheSnapshotAsItWas() throws Exception {
        Ipam ipam = ipam("10.99.0.0/16");
        for (int i = 0; i < 100; i++) {
            ipam.allocate("t" + i, "service", DERIVED);
        }
        Path snapshot = stateDir.resolve("network/leases.json");
        Object inode = Files.readAttributes(snapshot, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        long journalBefore = Files.size(stateDir.resolve("network/leases.journal"));
        ipam.allocate("t100", "service", DERIVED);
        ipam.release("t5");
        assertEquals(inode, Files.readAttributes(snapshot, java.nio.file.attribute.BasicFileAttributes.class).fileKey(),
                "the snapshot is not rewritten for a lease");
        List<String> added = Files.readAllLines(stateDir.resolve("network/leases.journal")).subList(99, 101);
        assertTrue(added.get(0).contains("\"add\"") && added.get(0).contains("t100"), added.toString());
        assertEquals("{\"release\":[\"t5\"]}", added.get(1));
        assertTrue(Files.size(stateDir.resolve("network/leases.journal")) - journalBefore < 200, "two short lines");
        assertEquals(100, ipam("10.99.0.0/16").leases().size());
    }

    @Test
    void theJournalIsFoldedIntoTheSnapshotEveryFewHundredChanges() throws Exception {
        Ipam ipam = ipam("10.99.0.0/16");
        Ipam other = ipam("10.99.0.0/16"); // another plugin process: its cache must follow the fold
        other.allocate("first", "service", DERIVED);
        for (int i = 0; i < LeaseFile.COMPACT_AFTER; i++) {
            ipam.allocate("t" + i, "service", DERIVED);
        }
        assertTrue(Files.exists(stateDir.resolve("network/leases.journal")));
        ipam.release("t0");
        assertTrue(Files.notExists(stateDir.resolve("network/leases.journal")), "folded: the journal is gone");
        String snapshot = Files.readString(stateDir.resolve("network/leases.json"));
        assertTrue(snapshot.contains("\"t255\"") && !snapshot.contains("\"t0\""), "the snapshot holds every change");
        assertEquals(LeaseFile.COMPACT_AFTER, other.leases().size());
        assertEquals("10.99.0.3", other.allocate("again", "service", DERIVED).ip(), "t0's address, free again");
        assertEquals(LeaseFile.COMPACT_AFTER + 1, ipam.leases().size());
    }

    @Test
    void aLineCutShortByACrashIsIgnoredAndCutOffByTheNextChange() throws Exception {
        ipam("10.99.0.0/24").allocate("t1", "service", DERIVED);
        ipam("10.99.0.0/24").allocate("t2", "service", DERIVED);
        Path journal = stateDir.resolve("network/leases.journal");
        Files.writeString(journal, "{\"add\":{\"task_id\":\"torn\",\"dev", java.nio.file.StandardOpenOption.APPEND);
        Ipam after = ipam("10.99.0.0/24");
        assertEquals(List.of("t1", "t2"), after.leases().stream().map(Lease::taskId).toList());
        assertEquals("10.99.0.4", after.allocate("t3", "service", DERIVED).ip());
        List<String> lines = Files.readAllLines(journal);
        assertEquals(2, lines.size(), "the torn line is gone: " + lines);
        assertTrue(lines.stream().noneMatch(l -> l.contains("torn")), lines.toString());
        assertEquals(List.of("t1", "t2", "t3"), ipam("10.99.0.0/24").leases().stream().map(Lease::taskId).toList());
    }

    @Test
    void aJournalReplayedOnTheSnapshotThatHoldsItChangesNothing() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        ipam.allocate("t1", "service", DERIVED);
        ipam.allocate("t2", "service", DERIVED);
        ipam.allocate("t3", "admin", DERIVED);
        ipam.release("t1");
        ipam.allocate("t1", "service", Optional.of("02:00:00:00:00:07"));
        Path journal = stateDir.resolve("network/leases.journal");
        String lines = Files.readString(journal);
        List<Lease> expected = ipam.leases();
        // A crash after the snapshot was written whole and before the journal was dropped.
        new LeaseFile(stateDir.resolve("network/leases.json"), journal)
                .write(new LeaseFile.Content(LeaseFile.VERSION, "10.99.0.0/24", expected));
        Files.writeString(journal, lines);
        assertEquals(Set.copyOf(expected), Set.copyOf(ipam("10.99.0.0/24").leases()));
        assertEquals(3, expected.size());
    }

    @Test
    void aMalformedJournalLineIsAClearError() throws Exception {
        ipam("10.99.0.0/24").allocate("t1", "service", DERIVED);
        Files.writeString(stateDir.resolve("network/leases.journal"), "{\"add\":{\"task_id\":\"x\"}}\n");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> ipam("10.99.0.0/24").allocate("t2", "service", DERIVED));
        assertTrue(e.getMessage().contains("leases.journal (at byte 0) is not readable JSON"), e.getMessage());
        Files.writeString(stateDir.resolve("network/leases.journal"), "{}\n");
        e = assertThrows(NetworkSetupException.class, () -> ipam("10.99.0.0/24").leases());
        assertTrue(e.getMessage().contains("neither adds nor releases exactly one thing"), e.getMessage());
    }

    @Test
    void exhaustedPoolIsAClearError() throws Exception {
        Ipam ipam = ipam("10.99.0.0/29");
        List<String> ips = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ips.add(ipam.allocate("t" + i, "service", DERIVED).ip());
        }
        assertEquals(List.of("10.99.0.2", "10.99.0.3", "10.99.0.4", "10.99.0.5", "10.99.0.6"), ips);
        NetworkSetupException e = assertThrows(NetworkSetupException.class, () -> ipam.allocate("t9", "service", DERIVED));
        assertTrue(e.getMessage().contains("address pool 10.99.0.0/29 is exhausted"), e.getMessage());
        ipam.release("t3");
        assertEquals("10.99.0.5", ipam.allocate("t9", "service", DERIVED).ip());
    }

    @Test
    void staticAddressIsLeasedAndThenSkippedByThePool() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        assertEquals("10.99.0.2", ipam.allocateStatic("t1", "service", "10.99.0.2", DERIVED).ip());
        assertEquals("10.99.0.3", ipam.allocate("t2", "service", DERIVED).ip());
        assertEquals("10.99.0.2", ipam.allocateStatic("t1", "service", "10.99.0.2", DERIVED).ip(), "idempotent");
    }

    @Test
    void staticAddressMustBeAssignable() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        assertStaticRefused(ipam, "10.98.0.5", "outside the node's subnet 10.99.0.0/24");
        assertStaticRefused(ipam, "10.99.0.0", "network or broadcast");
        assertStaticRefused(ipam, "10.99.0.255", "network or broadcast");
        assertStaticRefused(ipam, "10.99.0.1", "gateway");
        assertStaticRefused(ipam, "10.99.0.300", "not an IPv4 address");
        assertTrue(ipam.leases().isEmpty());
    }

    @Test
    void staticAddressOfAnotherTaskIsRefused() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        ipam.allocate("t1", "service", DERIVED);
        assertStaticRefused(ipam, "10.99.0.2", "already leased to task t1 (device service)");
    }

    @Test
    void sameDeviceCannotChangeItsStaticAddress() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        ipam.allocateStatic("t1", "service", "10.99.0.10", DERIVED);
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> ipam.allocateStatic("t1", "service", "10.99.0.11", DERIVED));
        assertTrue(e.getMessage().contains("already holds 10.99.0.10"), e.getMessage());
    }

    private static void assertStaticRefused(Ipam ipam, String ip, String reason) {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> ipam.allocateStatic("t9", "service", ip, DERIVED));
        assertEquals("address", e.field());
        assertTrue(e.getMessage().startsWith("network device \"service\": address \"" + ip + "\": "), e.getMessage());
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }

    @Test
    void jobMacIsKeptAndMustBeUnique() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        assertEquals("02:00:00:00:00:01", ipam.allocate("t1", "service", Optional.of("02:00:00:00:00:01")).mac());
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> ipam.allocate("t2", "service", Optional.of("02:00:00:00:00:01")));
        assertEquals("mac", e.field());
        assertTrue(e.getMessage().contains("already used by task t1"), e.getMessage());
    }

    @Test
    void derivedMacAvoidsOneAlreadyLeased() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        String wouldBe = MacAddresses.derive("00:80:41", "t2", "service");
        ipam.allocate("t1", "service", Optional.of(wouldBe));
        Lease lease = ipam.allocate("t2", "service", DERIVED);
        assertEquals(MacAddresses.derive("00:80:41", "t2", "service", 1), lease.mac());
    }

    @Test
    void releaseRemovesEveryLeaseOfTheTaskAndIsIdempotent() throws Exception {
        Ipam ipam = ipam("10.99.0.0/24");
        ipam.allocate("t1", "service", DERIVED);
        ipam.allocate("t1", "admin", DERIVED);
        ipam.allocate("t2", "service", DERIVED);
        assertEquals(2, ipam.release("t1").size());
        assertEquals(List.of(), ipam.release("t1"));
        assertEquals(List.of(), ipam.release("never-there"));
        assertEquals(List.of("t2"), ipam.leases().stream().map(Lease::taskId).toList());
    }

    @Test
    void leasesOutsideAChangedSubnetAreReportedNotReused() throws Exception {
        ipam("10.99.0.0/24").allocate("old", "service", DERIVED);
        Ipam changed = ipam("10.50.0.0/24");
        assertEquals(List.of("old"), changed.staleLeases().stream().map(Lease::taskId).toList());
        assertEquals("10.50.0.2", changed.allocate("new", "service", DERIVED).ip());
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> changed.allocate("old", "service", DERIVED));
        assertTrue(e.getMessage().contains("before the subnet changed"), e.getMessage());
        assertEquals(2, changed.leases().size(), "the old lease stays until its task is detached");
        changed.release("old");
        assertEquals(List.of(), changed.staleLeases());
    }

    @Test
    void corruptLeaseFileIsAClearError() throws Exception {
        Files.createDirectories(stateDir.resolve("network"));
        Files.writeString(stateDir.resolve("network/leases.json"), "{not json");
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> ipam("10.99.0.0/24").allocate("t1", "service", DERIVED));
        assertTrue(e.getMessage().contains("leases.json is not readable JSON"), e.getMessage());
    }

    @Test
    void eightThreadsWithTheirOwnInstancesGetUniqueAddresses() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<List<Lease>>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    Ipam own = ipam("10.99.0.0/24");
                    List<Lease> mine = new ArrayList<>();
                    for (int i = 0; i < 25; i++) {
                        mine.add(own.allocate("task-" + thread + "-" + i, "service", DERIVED));
                    }
                    return mine;
                }));
            }
            Set<String> ips = new HashSet<>();
            Set<String> macs = new HashSet<>();
            for (Future<List<Lease>> f : futures) {
                for (Lease lease : f.get()) {
                    ips.add(lease.ip());
                    macs.add(lease.mac());
                }
            }
            assertEquals(200, ips.size());
            assertEquals(200, macs.size());
            assertEquals(200, ipam("10.99.0.0/24").leases().size(), "no write was lost");
            assertNotEquals(0, ips.size());
        } finally {
            pool.shutdownNow();
        }
    }
}
