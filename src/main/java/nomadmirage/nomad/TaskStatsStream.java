package nomadmirage.nomad;

import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import nomadmirage.driver.NodeCompute;
import nomadmirage.proc.ProcStats;
import nomadmirage.proc.ProcessSample;
import nomadmirage.proto.drivers.CPUUsage;
import nomadmirage.proto.drivers.MemoryUsage;
import nomadmirage.proto.drivers.TaskResourceUsage;
import nomadmirage.proto.drivers.TaskStats;
import nomadmirage.proto.drivers.TaskStatsResponse;
import nomadmirage.driver.TaskHandle;

/**
 * One TaskStats stream: a complete sample of the tender every interval (the
 * agent dereferences every field, so none may be missing) until the task ends
 * or Nomad cancels.
 */
final class TaskStatsStream implements Runnable {
    private static final Duration MIN_INTERVAL = Duration.ofMillis(100);

    private final TaskHandle handle;
    private final Duration interval;
    private final NodeCompute compute;
    private final ServerCallStreamObserver<TaskStatsResponse> stream;
    private ProcessSample previous;

    TaskStatsStream(TaskHandle handle, Duration interval, NodeCompute compute,
            ServerCallStreamObserver<TaskStatsResponse> stream) {
        this.handle = handle;
        this.interval = interval.compareTo(MIN_INTERVAL) < 0 ? Duration.ofSeconds(1) : interval;
        this.compute = compute;
        this.stream = stream;
    }

    @Override
    public void run() {
        try {
            while (!stream.isCancelled() && !handle.outcome().isDone()) {
                Optional<ProcessSample> sample = ProcStats.sample(handle.process().tender().pid());
                if (sample.isEmpty()) {
                    break;
                }
                stream.onNext(TaskStatsResponse.newBuilder().setStats(toProto(sample.get())).build());
                previous = sample.get();
                try {
                    handle.outcome().get(interval.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException expected) {
                    // the next interval
                }
            }
            if (!stream.isCancelled()) {
                stream.onCompleted();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | RuntimeException e) {
            if (!stream.isCancelled()) {
                stream.onCompleted();
            }
        }
    }

    private TaskStats toProto(ProcessSample sample) {
        double percent = previous == null ? 0.0 : ProcStats.cpuPercent(previous, sample);
        CPUUsage cpu = CPUUsage.newBuilder()
                .setPercent(percent)
                .setTotalTicks(compute.ticksConsumed(percent))
                .addMeasuredFields(CPUUsage.Fields.PERCENT)
                .addMeasuredFields(CPUUsage.Fields.TOTAL_TICKS)
                .build();
        MemoryUsage memory = MemoryUsage.newBuilder()
                .setRss(sample.rssBytes())
                .addMeasuredFields(MemoryUsage.Fields.RSS)
                .build();
        TaskResourceUsage usage = TaskResourceUsage.newBuilder().setCpu(cpu).setMemory(memory).build();
        Instant at = sample.at();
        return TaskStats.newBuilder()
                .setId(handle.id().value())
                .setTimestamp(TaskStatusMapper.timestamp(at))
                .setAggResourceUsage(usage)
                .putResourceUsageByPid(Long.toString(handle.process().tender().pid()), usage)
                .build();
    }
}
