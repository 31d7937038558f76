package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.time.Duration;
import java.util.Set;
import nomadmirage.config.Ipv4Cidr;
import nomadmirage.log.LogLevel;
import nomadmirage.log.LogSink;
import nomadmirage.log.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NetworkManager's orchestration and rollback over in-memory host and firewall. */
class NetworkManagerTest {
    private static final OptionalInt UID = OptionalInt.of(1000);
    private static final OptionalInt GID = OptionalInt.of(1000);

    @TempDir
    Path stateDir;

    private final FakeHostNetwork host = new FakeHostNetwork();
    private final FakeFirewall firewall = new FakeFirewall();
    private final FakeGuestFilter guests = new FakeGuestFilter();
    private final FakeForwardTable forwards = new FakeForwardTable();
    private NetworkManager manager;
    private Ipam ipam;

    private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
    private LogSink sink;
    private NetworkSettings settings;

    @BeforeEach
    void setUp() {
        settings = NetworkSettings.withDefaults("mirage0", Ipv4Cidr.parse("10.99.0.0/24"), stateDir);
        sink = new LogSink(logged);
        manager = new NetworkManager(settings, host, firewall, guests, forwards, Logger.root("test", sink, LogLevel.INFO));
        ipam = new Ipam(settings);
    }

    @AfterEach
    void tearDown() {
        sink.close();
    }

    private List<String> warnings() {
        sink.flush(2000);
        return logged.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("\"@level\":\"warn\"")).toList();
    }

    private static DeviceRequest web(String device) {
        return DeviceRequest.pooled(device, List.of(PortForward.anyAddress("http", 8080, 80)));
    }

    private List<SavedRule> taskRules() {
        return firewall.rules.stream().filter(r -> r.comment().filter(IptablesRules::isTaskComment).isPresent()).toList();
    }

    private static String ipOf(Attachment attachment) {
        return attachment.devices().getFirst().ip();
    }

    private static List<MapForward> both(String hostIp, int hostPort, String guestIp, int guestPort) {
        return List.of(new MapForward(hostIp, "tcp", hostPort, guestIp, guestPort),
                new MapForward(hostIp, "udp", hostPort, guestIp, guestPort));
    }

    @Test
    void hostSetupIsIdempotent() throws Exception {
        for (int i = 0; i < 3; i++) {
            manager.ensureHostSetup();
        }
        assertEquals(7, firewall.rules.size(), "pool rules once: " + firewall.rules);
        assertEquals(3, firewall.ensureCalls);
        assertEquals(3, forwards.ensureCalls);
        assertEquals(List.of("net.ipv4.ip_forward=1", "net/ipv4/conf/mirage0/route_localnet=1"), host.sysctls.subList(0, 2));
    }

    @Test
    void attachLeasesCreatesTapsAndInstallsRules() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service"),
                new DeviceRequest("admin", Optional.of("02:00:00:00:00:09"), Optional.of("10.99.0.50"), List.of())));
        DeviceAttachment service = attachment.devices().get(0);
        assertEquals(new DeviceAttachment("service", TapNames.forDevice("t1", "service"),
                MacAddresses.derive("00:80:41", "t1", "service"), "10.99.0.2", 24, "10.99.0.1",
                List.of(PortForward.anyAddress("http", 8080, 80))), service);
        assertEquals("10.99.0.2/24", service.cidr());
        DeviceAttachment admin = attachment.devices().get(1);
        assertEquals("10.99.0.50", admin.ip());
        assertEquals("02:00:00:00:00:09", admin.mac());
        assertEquals(new NetworkTeardown("t1", List.of(service.tap(), admin.tap()), List.of("10.99.0.2", "10.99.0.50")),
                attachment.teardown());
        assertEquals(UID, host.taps.get(service.tap()));
        assertEquals(both("", 8080, "10.99.0.2", 80), List.copyOf(forwards.elements.values()));
        assertEquals(List.of(), taskRules(), "forwards are map elements, not rules");
        assertEquals(1, host.bridgeCalls, "attach sets the host up once when nobody did");
    }

    @Test
    void detachRemovesEverythingAndIsIdempotent() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service")));
        Attachment second = manager.attach("t2", UID, GID, List.of(web2("service")));
        manager.detach(attachment.teardown());
        manager.detach(attachment.teardown());
        assertEquals(List.of(TapNames.forDevice("t2", "service")), host.taps());
        assertEquals(Set.of(TapNames.forDevice("t2", "service")), guests.pinnedTaps());
        assertEquals(List.of("t2"), ipam.leases().stream().map(Lease::taskId).toList());
        assertEquals(both("", 8081, ipOf(second), 80), List.copyOf(forwards.elements.values()));
    }

    @Test
    void releaseRemovesTheForwardsTapsPinsAndLeasesInTheBackground() throws Exception {
        Attachment first = manager.attach("t1", UID, GID, List.of(web("service")));
        Attachment second = manager.attach("t2", UID, GID, List.of(web2("service")));
        Attachment third = manager.attach("t3", UID, GID, List.of(web3("service")));
        CompletableFuture<Void> one = manager.release(first.teardown());
        CompletableFuture<Void> two = manager.release(second.teardown());
        one.get(10, TimeUnit.SECONDS);
        two.get(10, TimeUnit.SECONDS);
        assertEquals(both("", 8082, ipOf(third), 80), List.copyOf(forwards.elements.values()), "only t3's forwards stay");
        assertEquals(List.of(TapNames.forDevice("t3", "service")), host.taps());
        assertEquals(Set.of(TapNames.forDevice("t3", "service")), guests.pinnedTaps());
        assertEquals(List.of("t3"), ipam.leases().stream().map(Lease::taskId).toList());
        assertTrue(manager.awaitReleases(Duration.ofSeconds(1)));
    }

    @Test
    void aTaskGivenTheHostPortOfOneBeingReleasedReplacesItsForwardWithoutAWarning() throws Exception {
        Attachment old = manager.attach("old", UID, GID, List.of(web("service")));
        CompletableFuture<Void> released = manager.release(old.teardown());
        Attachment fresh = manager.attach("new", UID, GID, List.of(web("service"))); // the same host port, 8080
        assertEquals(both("", 8080, ipOf(fresh), 80), List.copyOf(forwards.elements.values()),
                "the new task replaced the old forward");
        released.get(10, TimeUnit.SECONDS);
        assertEquals(List.of(), warnings(), "replacing a released task's forward is no news");
        assertEquals(List.of("new"), ipam.leases().stream().map(Lease::taskId).toList());
        assertEquals(both("", 8080, ipOf(fresh), 80), List.copyOf(forwards.elements.values()),
                "the reaper took nothing of the new task's");
    }

    @Test
    void aReleaseWhosePinsCannotGoFailsAndKeepsTheLease() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service")));
        guests.failUnpin = true;
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> manager.release(attachment.teardown()).get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("nft delete element"), e.getCause().getMessage());
        assertEquals(List.of(), host.taps());
        assertEquals(List.of("t1"), ipam.leases().stream().map(Lease::taskId).toList(),
                "the address is not handed out while the old tap may still send from it");
    }

    @Test
    void invalidMacAcquiresNothing() {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> manager.attach("t1", UID, GID, List.of(web("service"),
                        new DeviceRequest("admin", Optional.of("ff:ff:ff:ff:ff:ff"), Optional.empty(), List.of()))));
        assertEquals("admin", e.device());
        assertEquals(List.of(), host.taps());
    }

    @Test
    void staticAddressOutsideTheSubnetOnTheSecondDeviceRollsBackTheFirst() throws Exception {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> manager.attach("t1", UID, GID, List.of(web("service"),
                        new DeviceRequest("admin", Optional.empty(), Optional.of("192.0.2.1"), List.of()))));
        assertEquals("address", e.field());
        assertNothingOf("t1");
    }

    @Test
    void tapFailureRollsBackTapsAndLeases() throws Exception {
        host.failOnTap = TapNames.forDevice("t1", "admin");
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"), web2("admin"))));
        assertNothingOf("t1");
    }

    @Test
    void forwardFailureRollsBackTapsAndLeases() throws Exception {
        manager.ensureHostSetup();
        forwards.failAdd = true;
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"))));
        assertNothingOf("t1");
    }

    private static DeviceRequest web2(String device) {
        return DeviceRequest.pooled(device, List.of(PortForward.anyAddress("alt", 8081, 80)));
    }

    private static DeviceRequest web3(String device) {
        return DeviceRequest.pooled(device, List.of(PortForward.anyAddress("third", 8082, 80)));
    }

    private void assertNothingOf(String taskId) throws Exception {
        assertEquals(List.of(), host.taps());
        assertEquals(List.of(), ipam.leases().stream().filter(l -> l.taskId().equals(taskId)).toList());
        assertEquals(List.of(), List.copyOf(forwards.elements.values()));
        assertEquals(Set.of(), guests.pins);
    }

    @Test
    void duplicateHostPortIsRefused() {
        InvalidNetworkRequestException e = assertThrows(InvalidNetworkRequestException.class,
                () -> manager.attach("t1", UID, GID, List.of(web("service"), web("admin"))));
        assertTrue(e.getMessage().contains("forwarded twice"), e.getMessage());
    }

    @Test
    void retryAfterACrashHalfWayReplacesTheLeftovers() throws Exception {
        manager.attach("t1", UID, GID, List.of(web("service")));
        // The process died before the driver persisted the teardown: the same start runs again.
        Attachment again = manager.attach("t1", UID, GID, List.of(web("service")));
        assertEquals("10.99.0.2", again.devices().getFirst().ip());
        assertEquals(both("", 8080, "10.99.0.2", 80), List.copyOf(forwards.elements.values()), "no duplicate forwards");
        assertEquals(1, host.taps().size());
    }

    @Test
    void preexistingTapOfAnotherOriginFailsTheAttach() throws Exception {
        host.taps.put(TapNames.forDevice("t1", "service"), OptionalInt.empty());
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"))));
        assertEquals(List.of(), ipam.leases());
        assertEquals(List.of(), List.copyOf(forwards.elements.values()));
        assertEquals(1, host.taps().size(), "a tap the attach did not create is left alone");
    }

    @Test
    void reconcileRemovesWhatNoKeptTaskOwns() throws Exception {
        Attachment kept = manager.attach("keep", UID, GID, List.of(web("service")));
        manager.attach("gone", UID, GID, List.of(web2("service")));
        forwards.put(new MapForward("192.0.2.7", "tcp", 9000, "10.99.0.99", 90)); // to an address nobody leases
        host.taps.put("mgzzzzzzzzzzzzz", OptionalInt.empty());
        host.taps.put("mgmt0", OptionalInt.empty());
        firewall.apply(new RuleBatch().add("nat", "-A NOMAD_MG_PRE -p tcp -m comment --comment \"mirage:ghost\" -j RETURN"));

        NetworkStatus before = manager.status();
        assertEquals(List.of("gone", "keep"), before.tasks().stream().map(TaskNetwork::taskId).toList());
        assertEquals(List.of("mgzzzzzzzzzzzzz"), before.orphanTaps());
        assertEquals(List.of("nft fwd_addr 192.0.2.7 . tcp . 9000 : 10.99.0.99 . 90",
                "nat: -A NOMAD_MG_PRE -p tcp -m comment --comment \"mirage:ghost\" -j RETURN"), before.orphanRules());
        assertEquals(List.of("nft fwd_local tcp . 8080 : " + ipOf(kept) + " . 80",
                "nft fwd_local udp . 8080 : " + ipOf(kept) + " . 80"), before.tasks().get(1).rules());

        ReconcileReport report = manager.reconcile(Set.of("keep"));
        assertEquals(Set.of("mgzzzzzzzzzzzzz", TapNames.forDevice("gone", "service")), Set.copyOf(report.removedTaps()));
        assertEquals(4, report.removedRules().size(), "the ghost rule, gone's two forwards and the orphan forward: "
                + report.removedRules());
        assertEquals(both("", 8080, ipOf(kept), 80), List.copyOf(forwards.elements.values()));
        assertEquals(List.of("gone"), report.releasedLeases().stream().map(Lease::taskId).toList());
        assertEquals(List.of(), report.problems());

        NetworkStatus after = manager.status();
        assertEquals(List.of("keep"), after.tasks().stream().map(TaskNetwork::taskId).toList());
        assertEquals(List.of(), after.orphanTaps());
        assertEquals(List.of(), after.orphanRules());
        assertEquals(Set.of(TapNames.forDevice("keep", "service"), "mgmt0"), host.taps.keySet());
        assertTrue(manager.reconcile(Set.of("keep")).removedNothing());
    }

    private static Pin pinOf(Attachment attachment) {
        DeviceAttachment device = attachment.devices().getFirst();
        return new Pin(device.tap(), device.mac(), device.ip());
    }

    @Test
    void attachPinsEveryTapToItsLeaseBeforeCreatingIt() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service"),
                new DeviceRequest("admin", Optional.of("02:00:00:00:00:09"), Optional.of("10.99.0.50"), List.of())));
        DeviceAttachment admin = attachment.devices().get(1);
        assertEquals(Set.of(pinOf(attachment), new Pin(admin.tap(), "02:00:00:00:00:09", "10.99.0.50")), guests.pins);
        assertEquals(List.of("10.99.0.0/24"), guests.ensured);

        guests.failPin = true;
        int created = host.tapsCreated;
        assertThrows(NetworkSetupException.class, () -> manager.attach("t2", UID, GID, List.of(web2("service"))));
        assertEquals(created, host.tapsCreated, "no tap exists unpinned, not even for a moment");
        assertEquals(List.of(), ipam.leases().stream().filter(l -> l.taskId().equals("t2")).toList());
    }

    @Test
    void aFailedAttachUnpinsWhatItPinned() throws Exception {
        host.failOnTap = TapNames.forDevice("t1", "admin");
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"), web2("admin"))));
        assertEquals(Set.of(), guests.pins);
        forwards.failAdd = true;
        host.failOnTap = "";
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"))));
        assertEquals(Set.of(), guests.pins);
    }

    @Test
    void isolationIsPartOfTheHostSetup() throws Exception {
        NetworkSettings isolated = new NetworkSettings("mirage0", settings.subnet(), settings.macOui(), settings.mtu(),
                stateDir, true);
        new NetworkManager(isolated, host, firewall, guests, forwards, Logger.root("test", sink, LogLevel.INFO))
                .ensureHostSetup();
        assertEquals(List.of("10.99.0.0/24 isolated"), guests.ensured);
    }

    @Test
    void detachUnpinsAndKeepsTheLeaseWhileThePinMayRemain() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service")));
        guests.failUnpin = true;
        NetworkSetupException e = assertThrows(NetworkSetupException.class, () -> manager.detach(attachment.teardown()));
        assertTrue(e.getMessage().contains("nft delete element"), e.getMessage());
        assertEquals(List.of(), host.taps());
        assertEquals(List.of("t1"), ipam.leases().stream().map(Lease::taskId).toList(),
                "the address is not handed out while the old tap may still send from it");

        guests.failUnpin = false;
        ReconcileReport report = manager.reconcile(Set.of());
        assertEquals(List.of(pinOf(attachment)), report.removedPins());
        assertEquals(List.of("t1"), report.releasedLeases().stream().map(Lease::taskId).toList());
        assertEquals(Set.of(), guests.pins);
    }

    @Test
    void reconcileRemovesPinsOfTapsItDoesNotKeepAndPinsKeptTapsThatLackThem() throws Exception {
        Attachment keep = manager.attach("keep", UID, GID, List.of(web("service")));
        Attachment gone = manager.attach("gone", UID, GID, List.of(web2("service")));
        Pin ghost = new Pin("mgzzzzzzzzzzzzz", "00:80:41:00:00:77", "10.99.0.77");
        Pin stale = new Pin(keep.devices().getFirst().tap(), "00:80:41:00:00:78", "10.99.0.78");
        guests.pins.add(ghost);
        guests.pins.add(stale);
        guests.pins.remove(pinOf(keep)); // as left by a plugin that did not pin guests

        ReconcileReport report = manager.reconcile(Set.of("keep"));
        assertEquals(Set.of(pinOf(gone), ghost, stale), Set.copyOf(report.removedPins()));
        assertEquals(List.of(keep.devices().getFirst().tap()), report.pinnedTaps());
        assertEquals(Set.of(pinOf(keep)), guests.pins);
        assertTrue(manager.reconcile(Set.of("keep")).pinnedTaps().isEmpty());
    }

    @Test
    void reconcileKeepsLeasesWhenPinsCannotBeRemoved() throws Exception {
        manager.attach("gone", UID, GID, List.of(web("service")));
        guests.failUnpin = true;
        ReconcileReport report = manager.reconcile(Set.of());
        assertEquals(List.of(), report.releasedLeases());
        assertEquals(List.of(), report.removedPins());
        assertEquals(1, report.problems().size(), report.problems().toString());
        assertEquals(List.of("gone"), ipam.leases().stream().map(Lease::taskId).toList());
    }

    @Test
    void statusSaysWhetherTheBridgeExistsSinceWithoutItEveryTapLooksMissing() throws Exception {
        ipam.allocate("t1", "service", Optional.empty());

        NetworkStatus elsewhere = manager.status();
        assertFalse(elsewhere.bridgePresent());
        assertEquals(List.of(TapNames.forDevice("t1", "service")), elsewhere.tasks().getFirst().missingTaps());

        manager.ensureHostSetup();
        assertTrue(manager.status().bridgePresent());
    }

    /** A task whose release failed at its forwards: they, its lease and its pins stay (no tap). */
    private Attachment failedRelease(String taskId, DeviceRequest device) throws Exception {
        Attachment attachment = manager.attach(taskId, UID, GID, List.of(device));
        forwards.failRemove = true;
        assertThrows(ExecutionException.class, () -> manager.release(attachment.teardown()).get(10, TimeUnit.SECONDS));
        forwards.failRemove = false;
        return attachment;
    }

    @Test
    void aReleaseWhoseForwardsCannotGoKeepsTheLease() throws Exception {
        Attachment dead = failedRelease("t-dead", web("service"));
        assertEquals(both("", 8080, ipOf(dead), 80), List.copyOf(forwards.elements.values()));
        assertEquals(List.of("t-dead"), ipam.leases().stream().map(Lease::taskId).toList(),
                "the address is not handed out while forwards still lead to it");
        assertEquals(List.of(), host.taps());
        ReconcileReport report = manager.reconcile(Set.of());
        assertEquals(2, report.removedRules().size(), report.removedRules().toString());
        assertEquals(List.of("t-dead"), report.releasedLeases().stream().map(Lease::taskId).toList());
        assertEquals(Map.of(), forwards.elements);
    }

    @Test
    void attachEvictsAStaleForwardOfTheSameHostPortAndWarnsNamingBothTasks() throws Exception {
        Attachment dead = failedRelease("t-dead", DeviceRequest.pooled("service",
                List.of(PortForward.anyAddress("http", 8080, 80), PortForward.anyAddress("dns", 5353, 53))));
        manager.attach("t-other", UID, GID, List.of(web3("service"))); // lists afresh after the failure
        int listings = forwards.listCalls;
        Attachment attachment = manager.attach("t-new", UID, GID, List.of(web("service")));
        assertEquals(listings, forwards.listCalls, "the index, not a listing, found the conflict");

        List<MapForward> expected = new java.util.ArrayList<>(both("", 5353, ipOf(dead), 53));
        expected.addAll(both("", 8080, ipOf(attachment), 80));
        expected.addAll(both("", 8082, "10.99.0.3", 80));
        assertEquals(Set.copyOf(expected), Set.copyOf(forwards.elements.values()));

        List<String> warnings = warnings().stream().filter(w -> w.contains("removed another task's port forward")).toList();
        assertEquals(2, warnings.size(), warnings.toString());
        for (String warning : warnings) {
            assertTrue(warning.contains("\"task_id\":\"t-new\""), warning);
            assertTrue(warning.contains("\"evicted_task_id\":\"t-dead\""), warning);
            assertTrue(warning.contains(" . 8080 : " + ipOf(dead) + " . 80"), warning);
        }
    }

    @Test
    void aForwardOnEveryLocalAddressAndOneOnASpecificAddressOfTheSamePortEvictEachOther() throws Exception {
        Attachment specific = failedRelease("t-specific", DeviceRequest.pooled("service",
                List.of(new PortForward("http", 8080, 80, "192.0.2.10"))));
        Attachment any = manager.attach("t-any", UID, GID, List.of(web("service")));
        assertEquals(both("", 8080, ipOf(any), 80), List.copyOf(forwards.elements.values()),
                "the specific one would have taken 192.0.2.10's traffic: " + ipOf(specific));
        manager.attach("t-specific-again", UID, GID, List.of(DeviceRequest.pooled("service",
                List.of(new PortForward("http", 8080, 80, "192.0.2.10")))));
        assertEquals(2, forwards.elements.size());
        assertTrue(forwards.elements.values().stream().allMatch(f -> f.hostIp().equals("192.0.2.10")));
    }

    @Test
    void forwardsOfTheSamePortOnOtherAddressesAreNotEvicted() throws Exception {
        failedRelease("t-other", DeviceRequest.pooled("service", List.of(new PortForward("http", 8080, 80, "192.0.2.11"))));
        manager.attach("t-new", UID, GID, List.of(DeviceRequest.pooled("service",
                List.of(new PortForward("http", 8080, 80, "192.0.2.10")))));
        assertEquals(4, forwards.elements.size());
        assertEquals(List.of(), warnings().stream().filter(w -> w.contains("removed another task's")).toList());
    }

    @Test
    void aForwardTheIndexDoesNotKnowIsReplacedAndWarnedAbout() throws Exception {
        manager.ensureHostSetup();
        manager.attach("t1", UID, GID, List.of(web2("service"))); // the index is loaded by now
        forwards.put(new MapForward("", "tcp", 8080, "10.99.0.77", 80)); // written by someone else meanwhile
        Attachment attachment = manager.attach("t-new", UID, GID, List.of(web("service")));
        assertEquals(Set.copyOf(both("", 8080, ipOf(attachment), 80)), forwards.elements.values().stream()
                .filter(f -> f.hostPort() == 8080).collect(java.util.stream.Collectors.toSet()));
        List<String> warnings = warnings();
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("\"evicted_task_id\":\"(no lease)\""), warnings.getFirst());
    }

    @Test
    void aStaleForwardThatVanishesMeanwhileIsNotInTheWay() throws Exception {
        failedRelease("t-dead", web("service"));
        // Someone removes t-dead's forwards between the index's view and our deletion.
        forwards.beforeRemove = () -> forwards.elements.clear();
        Attachment attachment = manager.attach("t-new", UID, GID, List.of(web("service")));
        assertEquals(both("", 8080, ipOf(attachment), 80), List.copyOf(forwards.elements.values()));
    }

    @Test
    void startsNeitherListNorRunIptables() throws Exception {
        manager.ensureHostSetup();
        int applies = firewall.applyCalls;
        for (int i = 0; i < 20; i++) {
            manager.attach("t" + i, UID, GID, List.of(DeviceRequest.pooled("service",
                    List.of(PortForward.anyAddress("http", 9000 + i, 80)))));
        }
        assertEquals(40, forwards.elements.size());
        assertEquals(1, forwards.listCalls, "one listing loads the index");
        assertEquals(applies, firewall.applyCalls, "no iptables batch on the start path");
    }

    @Test
    void aReleaseRemovesTheTaskRulesOfAnOlderPlugin() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service")));
        firewall.apply(new RuleBatch().add("nat", "-A NOMAD_MG_PRE -p tcp -m tcp --dport 8080 -m comment --comment "
                + "\"mirage:t1\" -j DNAT --to-destination 10.99.0.2:80"));
        manager.release(attachment.teardown()).get(10, TimeUnit.SECONDS);
        assertEquals(List.of(), taskRules());
        assertEquals(Map.of(), forwards.elements);
    }

    @Test
    void detachFailsInsteadOfReportingSuccessWhenTheListingWasTruncated() throws Exception {
        RecordingRunner runner = new RecordingRunner()
                .answerTruncated("iptables -w 10 -t nat -S NOMAD_MG_PRE", "-N NOMAD_MG_PRE\n");
        NetworkManager overCommands = new NetworkManager(settings, host, new IptablesFirewall(runner, stateDir),
                guests, forwards, Logger.root("test", sink, LogLevel.INFO));
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> overCommands.detach(new NetworkTeardown("t1", List.of(), List.of())));
        assertTrue(e.getMessage().contains("partial listing"), e.getMessage());
        assertTrue(runner.commands.stream().noneMatch(c -> c.startsWith("iptables-restore")), runner.commands.toString());
    }
}
