package nomadmirage.nomad;

import com.google.protobuf.ByteString;
import java.time.Duration;
import nomadmirage.config.ConfigException;
import nomadmirage.config.TaskConfigParser;
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
import nomadmirage.driver.HostFailureException;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.driver.TaskEvent;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.TaskId;
import nomadmirage.driver.TaskNotFoundException;
import nomadmirage.driver.TaskRunningException;
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
 * Exec and driver-created networks answer UNIMPLEMENTED.
 */
public final class DriverService extends DriverGrpc.DriverImplBase {
    /** The handle format version (0 is reserved by Nomad for pre-0.9 handles). */
    static final int HANDLE_VERSION = 1;

    private final MirageDriver driver;
    private final NodeCompute compute;
    private final Logger log;
    private final Set<Runnable> openStreams = ConcurrentHashMap.newKeySet();

    public DriverService(MirageDriver driver, NodeCompute compute, Logger log) {
        this.driver = driver;
        this.compute = compute;
        this.log = log;
    }

    @Override
    public void startTask(StartTaskRequest request, StreamObserver<StartTaskResponse> response) {
        TaskConfig task = request.getTask();
        if (task.getId().isEmpty()) {
            response.onError(StatusErrors.startFailure("StartTask without a task id", false));
            return;
        }
        try {
            nomadmirage.config.TaskConfig config = TaskConfigParser.parse(
                    CtyMsgpack.decodeObject(task.getMsgpackDriverConfig().toByteArray()));
            TaskHandle handle = driver.tasks().start(TaskRequestMapper.fromProto(task), config);
            StartTaskResponse.Builder out = StartTaskResponse.newBuilder()
                    .setHandle(nomadmirage.proto.drivers.TaskHandle.newBuilder()
                            .setVersion(HANDLE_VERSION)
                            .setConfig(task)
                            .setState(nomadmirage.proto.drivers.TaskState.RUNNING)
                            .setDriverState(ByteString.copyFrom(handle.driverState().encode())));
            NetworkOverrideMapper.of(handle.driverState()).ifPresent(out::setNetworkOverride);
            response.onNext(out.build());
            response.onCompleted();
        } catch (ConfigException | CtyDecodeException | InvalidTaskException e) {
            log.warn("task start refused", "task_id", task.getId(), "error", e);
            response.onError(StatusErrors.startFailure(e.getMessage(), false));
        } catch (HostFailureException e) {
            log.error("task start failed on the host", "task_id", task.getId(), "error", e);
            response.onError(StatusErrors.startFailure(e.getMessage(), true));
        } catch (RuntimeException e) {
            log.error("task start failed unexpectedly", "task_id", task.getId(), "error", e.toString());
            response.onError(StatusErrors.startFailure("internal error in the mirage driver: " + e, false));
        }
    }

    @Override
    public void recoverTask(RecoverTaskRequest request, StreamObserver<RecoverTaskResponse> response) {
        String id = !request.getTaskId().isEmpty() ? request.getTaskId() : request.getHandle().getConfig().getId();
        if (id.isEmpty()) {
            response.onError(StatusErrors.invalidArgument("RecoverTask needs a handle with config.id"));
            return;
        }
        try {
            driver.tasks().recover(new TaskId(id), request.getHandle().getDriverState().toByteArray());
            response.onNext(RecoverTaskResponse.getDefaultInstance());
            response.onCompleted();
        } catch (InvalidTaskException e) {
            log.warn("task recovery failed", "task_id", id, "error", e);
            response.onError(StatusErrors.failedPrecondition(e.getMessage()));
        } catch (HostFailureException e) {
            response.onError(StatusErrors.internal(e.getMessage()));
        }
    }

    @Override
    public void waitTask(WaitTaskRequest request, StreamObserver<WaitTaskResponse> response) {
        TaskHandle handle = driver.tasks().find(new TaskId(nonEmpty(request.getTaskId()))).orElse(null);
        if (handle == null) {
            response.onError(StatusErrors.notFound("task " + request.getTaskId() + " is not known to the mirage driver"));
            return;
        }
        ServerCallStreamObserver<WaitTaskResponse> call = (ServerCallStreamObserver<WaitTaskResponse>) response;
        handle.outcome().whenComplete((outcome, error) -> {
            if (call.isCancelled()) {
                return;
            }
            call.onNext(TaskStatusMapper.waitResponse(outcome));
            call.onCompleted();
        });
    }

    @Override
    public void stopTask(StopTaskRequest request, StreamObserver<StopTaskResponse> response) {
        Duration timeout = Duration.ofSeconds(request.getTimeout().getSeconds(), request.getTimeout().getNanos());
        try {
            driver.tasks().stop(new TaskId(nonEmpty(request.getTaskId())), timeout, request.getSignal());
            response.onNext(StopTaskResponse.getDefaultInstance());
            response.onCompleted();
        } catch (InvalidTaskException e) {
            response.onError(StatusErrors.invalidArgument(e.getMessage()));
        }
    }

    @Override
    public void destroyTask(DestroyTaskRequest request, StreamObserver<DestroyTaskResponse> response) {
        try {
            driver.tasks().destroy(new TaskId(nonEmpty(request.getTaskId())), request.getForce());
            response.onNext(DestroyTaskResponse.getDefaultInstance());
            response.onCompleted();
        } catch (TaskRunningException e) {
            response.onError(StatusErrors.failedPrecondition(e.getMessage()));
        }
    }

    @Override
    public void signalTask(SignalTaskRequest request, StreamObserver<SignalTaskResponse> response) {
        try {
            driver.tasks().signal(new TaskId(nonEmpty(request.getTaskId())), request.getSignal());
            response.onNext(SignalTaskResponse.getDefaultInstance());
            response.onCompleted();
        } catch (TaskNotFoundException e) {
            response.onError(StatusErrors.notFound(e.getMessage()));
        } catch (InvalidTaskException e) {
            response.onError(StatusErrors.failedPrecondition(e.getMessage()));
        }
    }

    @Override
    public void inspectTask(InspectTaskRequest request, StreamObserver<InspectTaskResponse> response) {
        try {
            TaskHandle handle = driver.tasks().get(new TaskId(nonEmpty(request.getTaskId())));
            response.onNext(TaskStatusMapper.inspect(handle));
            response.onCompleted();
        } catch (TaskNotFoundException e) {
            response.onError(StatusErrors.notFound(e.getMessage()));
        }
    }

    @Override
    public void taskStats(TaskStatsRequest request, StreamObserver<TaskStatsResponse> response) {
        TaskHandle handle = driver.tasks().find(new TaskId(nonEmpty(request.getTaskId()))).orElse(null);
        if (handle == null) {
            response.onError(StatusErrors.notFound("task " + request.getTaskId() + " is not known to the mirage driver"));
            return;
        }
        Duration interval = Duration.ofSeconds(request.getCollectionInterval().getSeconds(),
                request.getCollectionInterval().getNanos());
        Thread.ofVirtual().name("stats-" + handle.id()).start(new TaskStatsStream(handle, interval, compute,
                (ServerCallStreamObserver<TaskStatsResponse>) response));
    }

    /** One stream per plugin instance; stays open and carries every task's driver events. */
    @Override
    public void taskEvents(TaskEventsRequest request, StreamObserver<DriverTaskEvent> response) {
        ServerCallStreamObserver<DriverTaskEvent> stream = (ServerCallStreamObserver<DriverTaskEvent>) response;
        Object sendLock = new Object();
        Consumer<TaskEvent> subscriber = event -> {
            synchronized (sendLock) {
                if (!stream.isCancelled()) {
                    stream.onNext(DriverTaskEvent.newBuilder()
                            .setTaskId(event.taskId().value())
                            .setAllocId(nullToEmpty(event.allocId()))
                            .setTaskName(nullToEmpty(event.taskName()))
                            .setTimestamp(TaskStatusMapper.timestamp(event.at()))
                            .setMessage(event.message())
                            .putAllAnnotations(event.annotations())
                            .build());
                }
            }
        };
        Runnable close = () -> {
            driver.tasks().events().unsubscribe(subscriber);
            synchronized (sendLock) {
                if (!stream.isCancelled()) {
                    stream.onCompleted();
                }
            }
        };
        stream.setOnCancelHandler(() -> {
            driver.tasks().events().unsubscribe(subscriber);
            openStreams.remove(close);
        });
        openStreams.add(close);
        driver.tasks().events().subscribe(subscriber);
    }

    private static String nonEmpty(String id) {
        return id.isEmpty() ? "(empty task id)" : id;
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
