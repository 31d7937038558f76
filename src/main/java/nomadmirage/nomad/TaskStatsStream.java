package nomadmirage.nomad;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import nomadmirage.driver.NodeCompute;
import nomadmirage.driver.TaskHandle;
import nomadmirage.driver.TaskUsage;
import nomadmirage.driver.TaskUsageSampler;
import nomadmirage.goplugin.ServerStream;
import nomadmirage.proto.drivers.CPUUsage;
import nomadmirage.proto.drivers.MemoryUsage;
import nomadmirage.proto.drivers.TaskResourceUsage;
import nomadmirage.proto.drivers.TaskStats;
import nomadmirage.proto.drivers.TaskStatsResponse;

/**
 * One TaskStats stream: a complete sample of the tender every interval (the agent dereferences
 * every field, so none may be missing) until the task ends or Nomad cancels.
 */
final class TaskStatsStream implements Runnable {
    private static final Duration MIN_INTERVAL = Duration.ofMillis(100);

    private final TaskHandle handle;
    private final TaskUsageSampler sampler;
    private final Duration interval;
    private final NodeCompute compute;
    private final ServerStream<TaskStatsResponse> stream;

    TaskStatsStream(TaskHandle handle, TaskUsageSampler sampler, Duration interval, NodeCompute compute,
            ServerStream<TaskStatsResponse> stream) {
        this.handle = handle;
        this.sampler = sampler;
        this.interval = interval.compareTo(MIN_INTERVAL) < 0 ? Duration.ofSeconds(1) : interval;
        this.compute = compute;
        this.stream = stream;
    }

    @Override
    public void run() {
        try {
            while (stream.isOpen()) {
                Optional<TaskUsage> usage = sampler.next();
                if (usage.isEmpty() || !stream.send(TaskStatsResponse.newBuilder().setStats(toProto(usage.get())).build())) {
                    break;
                }
                try {
                    handle.outcome().get(interval.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException expected) {
                    // the next interval
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | RuntimeException e) {
            // the task's end is reported by WaitTask; this stream just ends
        }
        stream.complete();
    }

    private TaskStats toProto(TaskUsage usage) {
        CPUUsage.Builder cpu = CPUUsage.newBuilder()
                .setPercent(usage.cpuPercent())
                .setTotalTicks(compute.ticksConsumed(usage.cpuPercent()))
                .addMeasuredFields(CPUUsage.Fields.PERCENT)
                .addMeasuredFields(CPUUsage.Fields.TOTAL_TICKS);
        MemoryUsage.Builder memory = MemoryUsage.newBuilder()
                .setRss(usage.rssBytes())
                .addMeasuredFields(MemoryUsage.Fields.RSS);
        usage.cgroup().ifPresent(c -> {
            // As Nomad's exec driver reports a cgroup: Usage holds the tender's overhead and page cache too.
            cpu.setUserMode(c.userPercent()).setSystemMode(c.systemPercent())
                    .setThrottledPeriods(c.throttledPeriods()).setThrottledTime(c.throttledNanos())
                    .addMeasuredFields(CPUUsage.Fields.USER_MODE).addMeasuredFields(CPUUsage.Fields.SYSTEM_MODE)
                    .addMeasuredFields(CPUUsage.Fields.THROTTLED_PERIODS)
                    .addMeasuredFields(CPUUsage.Fields.THROTTLED_TIME);
            memory.setUsage(c.memoryBytes()).setCache(c.cacheBytes())
                    .addMeasuredFields(MemoryUsage.Fields.USAGE).addMeasuredFields(MemoryUsage.Fields.CACHE);
            if (c.maxMemoryBytes() > 0) {
                memory.setMaxUsage(c.maxMemoryBytes()).addMeasuredFields(MemoryUsage.Fields.MAX_USAGE);
            }
        });
        TaskResourceUsage resources = TaskResourceUsage.newBuilder().setCpu(cpu.build()).setMemory(memory.build()).build();
        return TaskStats.newBuilder()
                .setId(handle.id().value())
                .setTimestamp(TaskStatusMapper.timestamp(usage.at()))
                .setAggResourceUsage(resources)
                .putResourceUsageByPid(Long.toString(usage.pid()), resources)
                .build();
    }
}
