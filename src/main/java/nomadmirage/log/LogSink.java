package nomadmirage.log;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes log lines to stderr from one daemon thread, so a caller never blocks on
 * the pipe. When the agent that reads our stderr dies, writes fail with EPIPE (or
 * the pipe fills up); the plugin must keep serving, so lines are then dropped.
 */
public final class LogSink implements AutoCloseable {
    private static final int CAPACITY = 4096;

    private final BlockingQueue<String> queue = new ArrayBlockingQueue<>(CAPACITY);
    private final OutputStream out;
    private final AtomicLong dropped = new AtomicLong();
    /** Lines accepted and not yet written (or dropped): the queue plus the one being written. */
    private final AtomicLong pending = new AtomicLong();
    private final Thread writer;
    private volatile boolean broken;

    public LogSink(OutputStream out) {
        this.out = out;
        this.writer = Thread.ofPlatform().daemon().name("log-writer").unstarted(this::drain);
        writer.start();
    }

    public static LogSink stderr() {
        return new LogSink(new FileOutputStream(FileDescriptor.err));
    }

    public void accept(String line) {
        if (broken) {
            dropped.incrementAndGet();
            return;
        }
        pending.incrementAndGet();
        if (!queue.offer(line)) {
            pending.decrementAndGet();
            dropped.incrementAndGet();
        }
    }

    public long droppedLines() {
        return dropped.get();
    }

    /** Waits (bounded) until accepted lines are written, the last one included; used before exit. */
    public void flush(long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (pending.get() > 0 && !broken && System.nanoTime() < deadline) {
            Thread.onSpinWait();
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void drain() {
        while (true) {
            String line;
            try {
                line = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            try {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                broken = true;
                queue.clear();
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    @Override
    public void close() {
        flush(500);
        writer.interrupt();
    }
}
