package nomadmirage.driver;

import java.io.IOException;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.Pin;
import nomadmirage.network.StartPath;
import nomadmirage.proc.SupervisorService;

/** Taps and pins made by the supervisor service, in its network namespace (the plugin's). */
public final class ServiceStartPath implements StartPath {
    private static final long TIMEOUT_SECONDS = 10;

    private final SupervisorService service;

    public ServiceStartPath(SupervisorService service) {
        this.service = service;
    }

    @Override
    public void createTap(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws NetworkSetupException {
        String what = "creating tap " + tap + " on bridge " + bridge;
        try {
            await(what, service.createTap(tap, bridge, mtu, uid, gid));
        } catch (IOException | IllegalArgumentException e) {
            throw new NetworkSetupException(what + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void pin(Pin pin) throws NetworkSetupException {
        String what = "pinning tap " + pin.tap() + " to " + pin.mac() + " " + pin.ip();
        try {
            await(what, service.pin(pin.tap(), pin.mac(), pin.ip()));
        } catch (IOException | IllegalArgumentException e) {
            throw new NetworkSetupException(what + ": " + e.getMessage(), e);
        }
    }

    private static void await(String what, CompletableFuture<Void> done) throws NetworkSetupException {
        try {
            done.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new NetworkSetupException(what + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new NetworkSetupException(what + " took longer than " + TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NetworkSetupException("interrupted while " + what, e);
        }
    }
}
