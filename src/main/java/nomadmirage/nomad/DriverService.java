package nomadmirage.nomad;

import com.google.protobuf.ByteString;
import java.time.Duration;
import nomadmirage.driver.NodeCompute;
import nomadmirage.proto.drivers.DestroyTaskRequest;
import nomadmirage.proto.drivers.DestroyTaskResponse;
import nomadmirage.proto.drivers.DriverTaskEvent;
import nomadmirage.proto.drivers.InspectTaskRequest;
import nomadmirage.proto.drivers.InspectTaskResponse;
import nomadmirage.proto.drivers.RecoverTaskRequest;
import nomadmirage.proto.drivers.RecoverTaskResponse;
import nomadmirage.proto.drivers.SignalTaskRequest;
import nomadmirage.proto.drivers.SignalTaskResponse;
import nomadmirage.proto.drivers.StartTaskRequest;
import nomadmirage.proto.drivers.StartTaskResponse;
import nomadmirage.proto.drivers.StopTaskRequest;
import nomadmirage.proto.drivers.StopTaskResponse;
import nomadmirage.proto.drivers.TaskConfig;
import nomadmirage.proto.drivers.TaskEventsRequest;
import nomadmirage.proto.drivers.TaskStatsRequest;
import nomadmirage.proto.drivers.TaskStatsResponse;
import nomadmirage.proto.drivers.WaitTaskRequest;
import nomadmirage.proto.drivers.WaitTaskResponse;
import nomadmirage.driver.DriverException;
import nomadmirage.driver.TaskEvent;
import nomadmirage.goplugin.OpenStreams;
import nomadmirage.goplugin.ServerStream;
import nomadmirage.driver.TaskHandle;
import io.grpc.stub.StreamObserver;
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
 * Nomad's Driver service: a mechanical adapter from the wire to the driver — decode, call, map.
 * Every unary call runs through {@link Rpc} (one error table), every long-lived stream through
 * {@link ServerStream}. Exec and driver-created networks answer UNIMPLEMENTED.
 */
public final class DriverService extends DriverGrpc.DriverImplBase {
    /** The handle format version (0 is reserved by Nomad for pre-0.9 handles). */
    static final int HANDLE_VERSION = 1;

    private final MirageDriver driver;
    private final NodeCompute compute;
    private final Logger log;
    private final Rpc rpc;
    private final OpenStreams streams = new OpenStreams();
    /** Unary WaitTask calls still waiting; ended with UNAVAILABLE on shutdown, which Nomad reads as "plugin gone". */
    private final OpenStreams waits = new OpenStreams();

    public DriverService(MirageDriver driver, NodeCompute compute, Logger log) {
        this.driver = driver;
        this.compute = compute;
        this.log = log;
        this.rpc = new Rpc(log);
    }

    @Override
    public void startTask(StartTaskRequest request, StreamObserver<StartTaskResponse> response) {
        TaskConfig task = request.getTask();
        rpc.start(task.getId(), response, () -> {
            TaskHandle handle = driver.tasks().start(TaskRequestMapper.fromProto(task),
                    TaskRequestMapper.driverConfig(task), TaskRequestMapper.groupNamespace(task));
            StartTaskResponse.Builder out = StartTaskResponse.newBuilder()
                    .setHandle(nomadmirage.proto.drivers.TaskHandle.newBuilder()
                            .setVersion(HANDLE_VERSION)
                            .setConfig(task)
                            .setState(nomadmirage.proto.drivers.TaskState.RUNNING)
                            .setDriverState(ByteString.copyFrom(handle.sealedDriverState())));
            NetworkOverrideMapper.of(handle.driverState()).ifPresent(out::setNetworkOverride);
            return out.build();
        });
    }

    @Override
    public void recoverTask(RecoverTaskRequest request, StreamObserver<RecoverTaskResponse> response) {
        String id = !request.getTaskId().isEmpty() ? request.getTaskId() : request.getHandle().getConfig().getId();
        rpc.unary("RecoverTask", id, response, () -> {
            driver.tasks().recover(TaskRequestMapper.taskId(id), request.getHandle().getDriverState().toByteArray());
            return RecoverTaskResponse.getDefaultInstance();
        });
    }

    @Override
    public void waitTask(WaitTaskRequest request, StreamObserver<WaitTaskResponse> response) {
        TaskHandle handle;
        try {
            handle = driver.tasks().get(TaskRequestMapper.taskId(request.getTaskId()));
        } catch (DriverException | RuntimeException e) {
            response.onError(rpc.failure("WaitTask", request.getTaskId(), e));
            return;
        }
        ServerStream<WaitTaskResponse> stream = waits.track(ServerStream.of(response));
        Runnable unsubscribe = handle.onExit(outcome -> {
            stream.send(TaskStatusMapper.waitResponse(outcome));
            stream.complete();
        });
        stream.onClose(unsubscribe);
    }

    @Override
    public void stopTask(StopTaskRequest request, StreamObserver<StopTaskResponse> response) {
        Duration timeout = Duration.ofSeconds(request.getTimeout().getSeconds(), request.getTimeout().getNanos());
        rpc.unary("StopTask", request.getTaskId(), response, () -> {
            driver.tasks().stop(TaskRequestMapper.taskId(request.getTaskId()), timeout, request.getSignal());
            return StopTaskResponse.getDefaultInstance();
        });
    }

    @Override
    public void destroyTask(DestroyTaskRequest request, StreamObserver<DestroyTaskResponse> response) {
        rpc.unary("DestroyTask", request.getTaskId(), response, () -> {
            driver.tasks().destroy(TaskRequestMapper.taskId(request.getTaskId()), request.getForce());
            return DestroyTaskResponse.getDefaultInstance();
        });
    }

    @Override
    public void signalTask(SignalTaskRequest request, StreamObserver<SignalTaskResponse> response) {
        rpc.unary("SignalTask", request.getTaskId(), response, () -> {
            driver.tasks().signal(TaskRequestMapper.taskId(request.getTaskId()), request.getSignal());
            return SignalTaskResponse.getDefaultInstance();
        });
    }

    @Override
    public void inspectTask(InspectTaskRequest request, StreamObserver<InspectTaskResponse> response) {
        rpc.unary("InspectTask", request.getTaskId(), response,
                () -> TaskStatusMapper.inspect(driver.tasks().get(TaskRequestMapper.taskId(request.getTaskId()))));
    }

    @Override
    public void taskStats(TaskStatsRequest request, StreamObserver<TaskStatsResponse> response) {
        TaskHandle handle;
        try {
            handle = driver.tasks().get(TaskRequestMapper.taskId(request.getTaskId()));
        } catch (DriverException | RuntimeException e) {
            response.onError(rpc.failure("TaskStats", request.getTaskId(), e));
            return;
        }
        Duration interval = Duration.ofSeconds(request.getCollectionInterval().getSeconds(),
                request.getCollectionInterval().getNanos());
        ServerStream<TaskStatsResponse> stream = streams.track(ServerStream.of(response));
        Thread.ofVirtual().name("stats-" + handle.id()).start(
                new TaskStatsStream(handle, driver.tasks().sampler(handle), interval, compute, stream));
    }

    /** One stream per plugin instance; stays open and carries every task's driver events. */
    @Override
    public void taskEvents(TaskEventsRequest request, StreamObserver<DriverTaskEvent> response) {
        ServerStream<DriverTaskEvent> stream = streams.track(ServerStream.of(response));
        Consumer<TaskEvent> subscriber = event -> stream.send(DriverTaskEvent.newBuilder()
                .setTaskId(event.taskId().value())
                .setAllocId(nullToEmpty(event.allocId()))
                .setTaskName(nullToEmpty(event.taskName()))
                .setTimestamp(TaskStatusMapper.timestamp(event.at()))
                .setMessage(event.message())
                .putAllAnnotations(event.annotations())
                .build());
        driver.tasks().events().subscribe(subscriber);
        stream.onClose(() -> driver.tasks().events().unsubscribe(subscriber));
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
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
                .addNetworkIsolationModes(NetworkIsolationSpec.NetworkIsolationMode.GROUP)
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
        ServerStream<FingerprintResponse> stream = streams.track(ServerStream.of(response));
        Consumer<Fingerprint> subscriber = fp -> stream.send(FingerprintMapper.toProto(fp));
        // The first message is sent inside subscribe, so a concurrent change cannot overtake it.
        Fingerprint first = driver.fingerprints().subscribe(subscriber);
        stream.onClose(() -> driver.fingerprints().unsubscribe(subscriber));
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
        response.onError(ErrorTable.unimplemented("exec into a unikernel"));
    }

    @Override
    public StreamObserver<ExecTaskStreamingRequest> execTaskStreaming(StreamObserver<ExecTaskStreamingResponse> response) {
        response.onError(ErrorTable.unimplemented("exec into a unikernel"));
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
        waits.failAll(ErrorTable.pluginStopping());
        streams.completeAll();
    }

    /** Open long-lived streams (for leak checks in tests). */
    int openStreams() {
        return streams.size() + waits.size();
    }
}
