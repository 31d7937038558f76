package nomadmirage.log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LoggerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Clock utc = Clock.fixed(Instant.parse("2026-08-21T10:15:30.123456789Z"), ZoneOffset.UTC);

    @Test
    void writesHclogJsonWithStringFieldsAndSixFractionalDigits() throws Exception {
        Logger log = Logger.root("mirage", new LogSink(OutputStream.nullOutputStream()), LogLevel.TRACE, utc);
        JsonNode line = JSON.readTree(log.format(LogLevel.WARN, "vm started", "task_id", "a/b/c", "pid", 42L));
        assertEquals("warn", line.get("@level").textValue());
        assertEquals("vm started", line.get("@message").textValue());
        assertEquals("mirage", line.get("@module").textValue());
        assertEquals("2026-08-21T10:15:30.123456Z", line.get("@timestamp").textValue());
        assertEquals("a/b/c", line.get("task_id").textValue());
        assertEquals(42, line.get("pid").intValue());
    }

    @Test
    void timestampCarriesTheLocalOffsetLikeGo() throws Exception {
        Clock berlin = Clock.fixed(Instant.parse("2026-01-02T03:04:05.000001Z"), ZoneId.of("Europe/Berlin"));
        Logger log = Logger.root("m", new LogSink(OutputStream.nullOutputStream()), LogLevel.INFO, berlin);
        JsonNode line = JSON.readTree(log.format(LogLevel.INFO, "x"));
        assertEquals("2026-01-02T04:04:05.000001+01:00", line.get("@timestamp").textValue());
    }

    @Test
    void escapesMessagesAndRendersErrorsAsTheirMessage() throws Exception {
        Logger log = Logger.root("m", new LogSink(OutputStream.nullOutputStream()), LogLevel.INFO, utc);
        JsonNode line = JSON.readTree(log.format(LogLevel.ERROR, "quote \" and\nnewline", "error",
                new IOException("disk full")));
        assertEquals("quote \" and\nnewline", line.get("@message").textValue());
        assertEquals("disk full", line.get("error").textValue());
    }

    @Test
    void dropsLinesBelowTheLevelAndFollowsLevelChangesInChildren() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        LogSink sink = new LogSink(out);
        Logger root = Logger.root("mirage", sink, LogLevel.INFO, utc);
        Logger child = root.named("driver");
        child.debug("hidden");
        root.setLevel(LogLevel.DEBUG);
        child.debug("shown");
        sink.flush(2000);
        String text = out.toString();
        assertTrue(!text.contains("hidden"), text);
        assertTrue(text.contains("\"@module\":\"mirage.driver\""), text);
        assertTrue(text.contains("shown"), text);
    }

    @Test
    void aBrokenPipeNeverBlocksOrThrowsToTheCaller() throws Exception {
        OutputStream broken = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }
        };
        LogSink sink = new LogSink(broken);
        Logger log = Logger.root("m", sink, LogLevel.INFO, utc);
        CountDownLatch done = new CountDownLatch(1);
        Thread writer = new Thread(() -> {
            for (int i = 0; i < 100_000; i++) {
                log.info("line", "i", i);
            }
            done.countDown();
        });
        writer.start();
        assertTrue(done.await(30, TimeUnit.SECONDS), "logging blocked on a broken pipe");
        assertTrue(sink.droppedLines() > 0);
    }

    @Test
    void aStalledReaderNeverBlocksTheCaller() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        OutputStream stalled = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
        };
        LogSink sink = new LogSink(stalled);
        Logger log = Logger.root("m", sink, LogLevel.INFO, utc);
        CountDownLatch done = new CountDownLatch(1);
        new Thread(() -> {
            for (int i = 0; i < 20_000; i++) {
                log.info("line");
            }
            done.countDown();
        }).start();
        assertTrue(done.await(30, TimeUnit.SECONDS), "logging blocked on a stalled reader");
        assertTrue(sink.droppedLines() > 0);
        release.countDown();
    }
}
