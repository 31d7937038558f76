package nomadmirage.driver;

import java.io.IOException;
import java.util.OptionalInt;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.TapFactory;
import nomadmirage.proc.SupervisorService;

/** Taps made by the supervisor service (ioctls and rtnetlink in its namespace, which is the plugin's). */
public final class ServiceTaps implements TapFactory {
    private static final long TIMEOUT_SECONDS = 10;

    private final SupervisorService service;

    public ServiceTaps(SupervisorService service) {
        this.service = service;
    }

    @Override
    public void create(String tap, String bridge, int mtu, OptionalInt uid, OptionalInt gid)
            throws NetworkSetupException {
        try {
            service.createTap(tap, bridge, mtu, uid, gid).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new NetworkSetupException("cannot create tap " + tap + " on bridge " + bridge + ": "
                    + e.getCause().getMessage(), e.getCause());
        } catch (IOException | IllegalArgumentException e) {
            throw new NetworkSetupException("cannot create tap " + tap + ": " + e.getMessage(), e);
        } catch (TimeoutException e) {
            throw new NetworkSetupException("creating tap " + tap + " took longer than " + TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NetworkSetupException("interrupted while creating tap " + tap, e);
        }
    }
}
