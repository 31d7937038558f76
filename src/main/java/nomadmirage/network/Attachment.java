package nomadmirage.network;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The result of {@link NetworkManager#attach}: the devices to hand to the tender, how to undo it all, and
 * the task's port forwards, which may still be going in while the tender starts (iptables-restore is the
 * slowest step of a start): a start is not complete before {@link #awaitForwards} returned.
 */
public record Attachment(List<DeviceAttachment> devices, NetworkTeardown teardown, CompletableFuture<Void> forwards) {
    public Attachment {
        devices = List.copyOf(devices);
    }

    public Attachment(List<DeviceAttachment> devices, NetworkTeardown teardown) {
        this(devices, teardown, CompletableFuture.completedFuture(null));
    }

    /** Returns once the forwards are in; throws what their batch failed with. */
    public void awaitForwards() throws NetworkSetupException {
        try {
            forwards.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof NetworkSetupException cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** Returns once the forwards' batch has finished, whether it worked or not (before undoing it). */
    public void settleForwards() {
        forwards.exceptionally(e -> null).join();
    }
}
