package nomadmirage.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The forward index: conflicts, deletions in flight, and a table that changed behind its back. */
class PortForwardsTest {
    private final FakeForwardTable table = new FakeForwardTable();
    private final PortForwards forwards = new PortForwards(table);

    private static MapForward any(String proto, int port, String guest) {
        return new MapForward("", proto, port, guest, 80);
    }

    @Test
    void aStartWaitsForTheDeletionOfAnOverlappingForwardInFlightAndThenAddsItsOwn() throws Exception {
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        CountDownLatch deleting = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        table.beforeRemove = () -> {
            deleting.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        CompletableFuture<List<MapForward>> reaper = CompletableFuture.supplyAsync(() -> {
            try {
                return forwards.removeTo(Set.of("10.99.0.2"));
            } catch (NetworkSetupException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(deleting.await(10, TimeUnit.SECONDS));
        CompletableFuture<PortForwards.Installed> start = CompletableFuture.supplyAsync(() -> {
            try {
                return forwards.install(List.of(any("tcp", 8080, "10.99.0.3")), Set.of("10.99.0.3"));
            } catch (NetworkSetupException e) {
                throw new IllegalStateException(e);
            }
        });
        // A start for another port is not held up by the deletion.
        forwards.install(List.of(any("udp", 9090, "10.99.0.4")), Set.of("10.99.0.4"));
        assertFalse(start.isDone(), "the start waits while the same endpoint is being deleted");
        release.countDown();
        assertEquals(List.of(any("tcp", 8080, "10.99.0.2")), reaper.get(10, TimeUnit.SECONDS));
        assertEquals(List.of(), start.get(10, TimeUnit.SECONDS).evicted(), "nothing left to evict once it waited");
        assertEquals(Set.of(any("tcp", 8080, "10.99.0.3"), any("udp", 9090, "10.99.0.4")),
                Set.copyOf(table.elements.values()));
    }

    @Test
    void aFailedDeletionDropsTheIndexSoTheNextChangeListsAfresh() throws Exception {
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        int listed = table.listCalls;
        table.failRemove = true;
        assertThrows(NetworkSetupException.class, () -> forwards.removeTo(Set.of("10.99.0.2")));
        table.failRemove = false;
        assertEquals(List.of(any("tcp", 8080, "10.99.0.2")), forwards.removeTo(Set.of("10.99.0.2")),
                "the forward is still known after the failed deletion");
        assertEquals(listed + 1, table.listCalls);
        assertEquals(0, table.elements.size());
    }

    @Test
    void reinstallingTheSameForwardsChangesNothingAndDropsOnlyTheOwnStaleOnes() throws Exception {
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2"), any("udp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        int removals = table.removeCalls;
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2"), any("udp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        assertEquals(removals, table.removeCalls, "nothing deleted for identical forwards");
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        assertEquals(List.of(any("tcp", 8080, "10.99.0.2")), List.copyOf(table.elements.values()));
    }

    @Test
    void resyncKeepsOnlyForwardsToKeptGuestsFromAFreshListing() throws Exception {
        forwards.install(List.of(any("tcp", 8080, "10.99.0.2")), Set.of("10.99.0.2"));
        table.put(any("tcp", 9000, "10.99.0.9")); // behind the index's back
        assertEquals(List.of(any("tcp", 9000, "10.99.0.9")), forwards.resync(Set.of("10.99.0.2")));
        assertEquals(List.of(any("tcp", 8080, "10.99.0.2")), List.copyOf(table.elements.values()));
    }
}
