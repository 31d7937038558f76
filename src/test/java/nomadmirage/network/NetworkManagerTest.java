package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
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
    private NetworkManager manager;
    private Ipam ipam;

    private final ByteArrayOutputStream logged = new ByteArrayOutputStream();
    private LogSink sink;
    private NetworkSettings settings;

    @BeforeEach
    void setUp() {
        settings = NetworkSettings.withDefaults("mirage0", Ipv4Cidr.parse("10.99.0.0/24"), stateDir);
        sink = new LogSink(logged);
        manager = new NetworkManager(settings, host, firewall, guests, Logger.root("test", sink, LogLevel.INFO));
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

    @Test
    void hostSetupIsIdempotent() throws Exception {
        for (int i = 0; i < 3; i++) {
            manager.ensureHostSetup();
        }
        assertEquals(5, firewall.rules.size(), "pool rules once: " + firewall.rules);
        assertEquals(3, firewall.ensureCalls);
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
        assertEquals(7, taskRules().size(), "4 DNAT, 1 MASQUERADE, 2 ACCEPT");
        assertEquals(1, host.bridgeCalls, "attach sets the host up once when nobody did");
    }

    @Test
    void detachRemovesEverythingAndIsIdempotent() throws Exception {
        Attachment attachment = manager.attach("t1", UID, GID, List.of(web("service")));
        manager.attach("t2", UID, GID, List.of(web("service")));
        manager.detach(attachment.teardown());
        manager.detach(attachment.teardown());
        assertEquals(List.of(TapNames.forDevice("t2", "service")), host.taps());
        assertEquals(Set.of(TapNames.forDevice("t2", "service")), guests.pinnedTaps());
        assertEquals(List.of("t2"), ipam.leases().stream().map(Lease::taskId).toList());
        assertTrue(taskRules().stream().allMatch(r -> r.comment().orElseThrow().equals("mirage:t2")));
        assertEquals(7, taskRules().size());
    }

    @Test
    void releaseRemovesTheForwardsTapsPinsAndLeasesInTheBackground() throws Exception {
        Attachment first = manager.attach("t1", UID, GID, List.of(web("service")));
        Attachment second = manager.attach("t2", UID, GID, List.of(web2("service")));
        manager.attach("t3", UID, GID, List.of(web3("service")));
        CompletableFuture<Void> one = manager.release(first.teardown());
        CompletableFuture<Void> two = manager.release(second.teardown());
        one.get(10, TimeUnit.SECONDS);
        two.get(10, TimeUnit.SECONDS);
        assertTrue(taskRules().stream().allMatch(r -> r.comment().orElseThrow().equals("mirage:t3")),
                "only t3's forwards stay: " + taskRules());
        assertEquals(List.of(TapNames.forDevice("t3", "service")), host.taps());
        assertEquals(Set.of(TapNames.forDevice("t3", "service")), guests.pinnedTaps());
        assertEquals(List.of("t3"), ipam.leases().stream().map(Lease::taskId).toList());
        assertTrue(manager.awaitReleases(Duration.ofSeconds(1)));
    }

    @Test
    void aTaskGivenTheHostPortOfOneBeingReleasedReplacesItsForwardWithoutAWarning() throws Exception {
        Attachment old = manager.attach("old", UID, GID, List.of(web("service")));
        CompletableFuture<Void> released = manager.release(old.teardown());
        manager.attach("new", UID, GID, List.of(web("service"))); // the same host port, 8080
        assertTrue(taskRules().stream().noneMatch(r -> r.comment().orElseThrow().equals("mirage:old")
                && r.spec().contains("-j DNAT")), "the new task's batch replaced the old forward: " + taskRules());
        released.get(10, TimeUnit.SECONDS);
        assertEquals(List.of(), warnings(), "replacing a released task's forward is no news");
        assertEquals(List.of("new"), ipam.leases().stream().map(Lease::taskId).toList());
        assertTrue(taskRules().stream().allMatch(r -> r.comment().orElseThrow().equals("mirage:new")),
                "the reaper removed the rest of old's rules: " + taskRules());
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
    void ruleFailureRollsBackTapsAndLeases() throws Exception {
        manager.ensureHostSetup();
        firewall.failApply = true;
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
        assertEquals(List.of(), taskRules());
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
        assertEquals(7, taskRules().size(), "no duplicate rules");
        assertEquals(1, host.taps().size());
    }

    @Test
    void preexistingTapOfAnotherOriginFailsTheAttach() throws Exception {
        host.taps.put(TapNames.forDevice("t1", "service"), OptionalInt.empty());
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"))));
        assertEquals(List.of(), ipam.leases());
        assertEquals(List.of(), taskRules());
        assertEquals(1, host.taps().size(), "a tap the attach did not create is left alone");
    }

    @Test
    void reconcileRemovesWhatNoKeptTaskOwns() throws Exception {
        manager.attach("keep", UID, GID, List.of(web("service")));
        manager.attach("gone", UID, GID, List.of(web2("service")));
        host.taps.put("mgzzzzzzzzzzzzz", OptionalInt.empty());
        host.taps.put("mgmt0", OptionalInt.empty());
        firewall.apply(new RuleBatch().add("nat", "-A NOMAD_MG_PRE -p tcp -m comment --comment \"mirage:ghost\" -j RETURN"));

        NetworkStatus before = manager.status();
        assertEquals(List.of("gone", "keep"), before.tasks().stream().map(TaskNetwork::taskId).toList());
        assertEquals(List.of("mgzzzzzzzzzzzzz"), before.orphanTaps());
        assertEquals(1, before.orphanRules().size());
        assertEquals(7, before.tasks().get(1).rules().size());

        ReconcileReport report = manager.reconcile(Set.of("keep"));
        assertEquals(Set.of("mgzzzzzzzzzzzzz", TapNames.forDevice("gone", "service")), Set.copyOf(report.removedTaps()));
        assertEquals(8, report.removedRules().size());
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
        firewall.failApply = true;
        host.failOnTap = "";
        assertThrows(NetworkSetupException.class, () -> manager.attach("t1", UID, GID, List.of(web("service"))));
        assertEquals(Set.of(), guests.pins);
    }

    @Test
    void isolationIsPartOfTheHostSetup() throws Exception {
        NetworkSettings isolated = new NetworkSettings("mirage0", settings.subnet(), settings.macOui(), settings.mtu(),
                stateDir, true);
        new NetworkManager(isolated, host, firewall, guests, Logger.root("test", sink, LogLevel.INFO)).ensureHostSetup();
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

    /** Rules a task left behind when its detach failed (no lease, no tap: only rules). */
    private void staleRules(String taskId, String ip, PortForward... forwards) throws Exception {
        firewall.apply(IptablesRules.forTask(taskId, List.of(new DeviceAttachment("service",
                TapNames.forDevice(taskId, "service"), "00:80:41:00:00:01", ip, 24, "10.99.0.1", List.of(forwards)))));
    }

    private List<SavedRule> rulesOf(String taskId) {
        return firewall.rules.stream().filter(r -> r.comment().orElse("").equals(IptablesRules.comment(taskId))).toList();
    }

    @Test
    void attachEvictsAStaleForwardOfTheSameHostPortInTheSameBatchAndWarnsNamingBothTasks() throws Exception {
        manager.ensureHostSetup();
        staleRules("t-dead", "10.99.0.200", PortForward.anyAddress("http", 8080, 80), PortForward.anyAddress("dns", 5353, 53));
        int applies = firewall.applyCalls;
        Attachment attachment = manager.attach("t-new", UID, GID, List.of(web("service")));
        assertEquals(applies + 1, firewall.applyCalls, "eviction and installation are one batch");

        List<SavedRule> for8080 = firewall.rules.stream().filter(r -> IptablesRules.forwardedEndpoint(r)
                .filter(e -> e.port() == 8080).isPresent()).toList();
        assertEquals(4, for8080.size(), for8080.toString());
        assertTrue(for8080.stream().allMatch(r -> r.comment().orElseThrow().equals("mirage:t-new")
                && r.spec().endsWith(" " + attachment.devices().getFirst().ip() + ":80")), for8080.toString());
        assertEquals(7, rulesOf("t-new").size());
        assertEquals(13 - 4, rulesOf("t-dead").size(), "only the shadowing DNAT rules go; reconcile takes the rest");

        List<String> warnings = warnings();
        assertEquals(4, warnings.size(), warnings.toString());
        for (String warning : warnings) {
            assertTrue(warning.contains("\"task_id\":\"t-new\""), warning);
            assertTrue(warning.contains("\"evicted_task_id\":\"t-dead\""), warning);
            assertTrue(warning.contains("\"host_endpoint\":\"*:8080/"), warning);
        }
    }

    @Test
    void forwardsOfTheSamePortOnOtherAddressesAreNotEvicted() throws Exception {
        manager.ensureHostSetup();
        staleRules("t-other", "10.99.0.200", new PortForward("http", 8080, 80, "192.0.2.11"));
        manager.attach("t-new", UID, GID, List.of(DeviceRequest.pooled("service",
                List.of(new PortForward("http", 8080, 80, "192.0.2.10")))));
        assertEquals(7, rulesOf("t-other").size());
        assertEquals(List.of(), warnings());
    }

    @Test
    void aStaleRuleThatVanishesMeanwhileFailsTheBatchWhichIsRetriedWithoutIt() throws Exception {
        manager.ensureHostSetup();
        staleRules("t-dead", "10.99.0.200", PortForward.anyAddress("http", 8080, 80));
        // t-dead's late detach removes its rules between our listing and our batch.
        firewall.beforeApply = () -> firewall.rules.removeIf(r -> r.comment().orElse("").equals("mirage:t-dead"));
        manager.attach("t-new", UID, GID, List.of(web("service")));
        assertEquals(7, rulesOf("t-new").size(), "installed once, by the retry");
        assertEquals(List.of(), rulesOf("t-dead"));
        assertEquals(List.of(), warnings(), "the retry evicted nothing");
    }

    @Test
    void aDuplicatedStaleRuleIsEvictedEveryTime() throws Exception {
        manager.ensureHostSetup();
        staleRules("t-dead", "10.99.0.200", PortForward.anyAddress("http", 8080, 80));
        staleRules("t-dead", "10.99.0.200", PortForward.anyAddress("http", 8080, 80));
        manager.attach("t-new", UID, GID, List.of(web("service")));
        assertTrue(rulesOf("t-dead").stream().noneMatch(r -> IptablesRules.forwardedEndpoint(r).isPresent()),
                rulesOf("t-dead").toString());
        assertEquals(8, warnings().size());
    }

    @Test
    void detachFailsInsteadOfReportingSuccessWhenTheListingWasTruncated() throws Exception {
        RecordingRunner runner = new RecordingRunner()
                .answerTruncated("iptables -w 10 -t nat -S NOMAD_MG_PRE", "-N NOMAD_MG_PRE\n");
        NetworkManager overCommands = new NetworkManager(settings, host, new IptablesFirewall(runner, stateDir),
                guests, Logger.root("test", sink, LogLevel.INFO));
        NetworkSetupException e = assertThrows(NetworkSetupException.class,
                () -> overCommands.detach(new NetworkTeardown("t1", List.of(), List.of())));
        assertTrue(e.getMessage().contains("partial listing"), e.getMessage());
        assertTrue(runner.commands.stream().noneMatch(c -> c.startsWith("iptables-restore")), runner.commands.toString());
    }
}
