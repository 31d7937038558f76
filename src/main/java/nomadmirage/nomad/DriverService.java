package nomadmirage.nomad;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import nomadmirage.driver.Fingerprint;
import nomadmirage.driver.MirageDriver;
import nomadmirage.log.Logger;
import nomadmirage.proto.drivers.CapabilitiesRequest;
import nomadmirage.proto.drivers.CapabilitiesResponse;
import nomadmirage.proto.drivers.DriverCapabilities;
import nomadmirage.proto.drivers.DriverGrpc;
import nomadmirage.proto.drivers.ExecTaskRequest;
import nomadmirage.proto.drivers.ExecTaskResponse;
import nomadmirage.proto.drivers.ExecTaskStreamingRequest;
import nomadmirage.proto.drivers.ExecTaskStreamingResponse;
import nomadmirage.proto.drivers.FingerprintRequest;
import nomadmirage.proto.drivers.FingerprintResponse;
import nomadmirage.proto.drivers.InitRequest;
import nomadmirage.proto.drivers.InitResponse;
import nomadmirage.proto.drivers.NetworkIsolationSpec;
import nomadmirage.proto.drivers.ShutdownRequest;
import nomadmirage.proto.drivers.ShutdownResponse;
import nomadmirage.proto.drivers.TaskConfigSchemaRequest;
import nomadmirage.proto.drivers.TaskConfigSchemaResponse;

/**
 * Nomad's Driver service: a thin adapter from the wire to {@link MirageDriver}.
 * Task RPCs not implemented yet answer UNIMPLEMENTED (the generated default).
 */
public final class DriverService extends DriverGrpc.DriverImplBase {
    private final MirageDriver driver;
    private final Logger log;
    private final Set<Runnable> openStreams = ConcurrentHashMap.newKeySet();

    public DriverService(MirageDriver driver, Logger log) {
        this.driver = driver;
        this.log = log;
    }

    @Override
    public void init(InitRequest request, StreamObserver<InitResponse> response) {
        response.onNext(InitResponse.getDefaultInstance());
        response.onCompleted();
    }

    @Override
    public void taskConfigSchema(TaskConfigSchemaRequest request, StreamObserver<TaskConfigSchemaResponse> response) {
        response.onNext(TaskConfigSchemaResponse.newBuilder().setSpec(TaskConfigSchema.spec()).build());
        response.onCompleted();
    }

    @Override
    public void capabilities(CapabilitiesRequest request, StreamObserver<CapabilitiesResponse> response) {
        response.onNext(CapabilitiesResponse.newBuilder().setCapabilities(DriverCapabilities.newBuilder()
                .setSendSignals(true)
                .setExec(false)
                .setFsIsolation(DriverCapabilities.FSIsolation.NONE)
                .addNetworkIsolationModes(NetworkIsolationSpec.NetworkIsolationMode.HOST)
                .setMustCreateNetwork(false)
                .setMountConfigs(DriverCapabilities.MountConfigs.NO_MOUNTS)
                .setDisableLogCollection(false)
                .setDynamicWorkloadUsers(false))
                .build());
        response.onCompleted();
    }

    /** Stays open for the plugin's life: the current fingerprint at once, then every change. */
    @Override
    public void fingerprint(FingerprintRequest request, StreamObserver<FingerprintResponse> response) {
        ServerCallStreamObserver<FingerprintResponse> stream = (ServerCallStreamObserver<FingerprintResponse>) response;
        Object sendLock = new Object();
        Consumer<Fingerprint> subscriber = fp -> {
            synchronized (sendLock) {
                if (!stream.isCancelled()) {
                    stream.onNext(FingerprintMapper.toProto(fp));
                }
            }
        };
        Runnable close = () -> {
            driver.fingerprints().unsubscribe(subscriber);
            synchronized (sendLock) {
                if (!stream.isCancelled()) {
                    stream.onCompleted();
                }
            }
        };
        stream.setOnCancelHandler(() -> {
            driver.fingerprints().unsubscribe(subscriber);
            openStreams.remove(close);
        });
        openStreams.add(close);
        Fingerprint first;
        synchronized (sendLock) {
            // Holding the lock keeps a concurrent change from overtaking the first message.
            first = driver.fingerprints().subscribe(subscriber);
            stream.onNext(FingerprintMapper.toProto(first));
        }
        log.debug("fingerprint stream opened", "health", first.health().name());
    }

    @Override
    public void shutdown(ShutdownRequest request, StreamObserver<ShutdownResponse> response) {
        closeStreams();
        response.onNext(ShutdownResponse.getDefaultInstance());
        response.onCompleted();
    }

    @Override
    public void execTask(ExecTaskRequest request, StreamObserver<ExecTaskResponse> response) {
        response.onError(StatusErrors.unimplemented("exec into a unikernel"));
    }

    @Override
    public StreamObserver<ExecTaskStreamingRequest> execTaskStreaming(StreamObserver<ExecTaskStreamingResponse> response) {
        response.onError(StatusErrors.unimplemented("exec into a unikernel"));
        return new StreamObserver<>() {
            @Override
            public void onNext(ExecTaskStreamingRequest value) {
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        };
    }

    /** Ends the long-lived streams so the host sees a clean end when the plugin stops. */
    public void closeStreams() {
        openStreams.forEach(Runnable::run);
        openStreams.clear();
    }
}
