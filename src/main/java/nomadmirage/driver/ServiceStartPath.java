package nomadmirage.driver;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import nomadmirage.network.MapForward;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.Pin;
import nomadmirage.network.StartPath;
import nomadmirage.proc.SupervisorService;

/** Taps, pins and port forwards made by the supervisor service, in its network namespace (the plugin's). */
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

    /** All requests are sent before the first reply is awaited: one round trip for the lot. */
    @Override
    public List<MapForward> forward(List<MapForward> forwards) throws NetworkSetupException {
        List<CompletableFuture<Boolean>> replies = new ArrayList<>();
        for (MapForward f : forwards) {
            try {
                replies.add(service.forward(f.hostIp(), f.protocol(), f.hostPort(), f.guestIp(), f.guestPort()));
            } catch (IOException | IllegalArgumentException e) {
                throw new NetworkSetupException("adding the port forward " + f.element() + ": " + e.getMessage(), e);
            }
        }
        List<MapForward> taken = new ArrayList<>();
        for (int i = 0; i < forwards.size(); i++) {
            if (!await("adding the port forward " + forwards.get(i).element(), replies.get(i))) {
                taken.add(forwards.get(i));
            }
        }
        return taken;
    }

    private static <T> T await(String what, CompletableFuture<T> done) throws NetworkSetupException {
        try {
            return done.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
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
