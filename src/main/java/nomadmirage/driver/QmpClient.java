package nomadmirage.driver;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Talks just enough QMP to ask a qemu guest to power down. */
final class QmpClient {
    private QmpClient() {
    }

    /** Sends system_powerdown; true when qemu accepted it within the timeout. */
    static boolean powerdown(Path socket, Duration timeout) {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            // A hung qemu must not hang the stop: closing the channel ends any blocked read.
            CompletableFuture<Void> deadline = CompletableFuture.runAsync(() -> closeQuietly(channel),
                    CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS));
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(channel);
                in.readLine(); // the greeting
                out.write("{\"execute\":\"qmp_capabilities\"}\n".getBytes(StandardCharsets.UTF_8));
                if (!awaitReturn(in)) {
                    return false;
                }
                out.write("{\"execute\":\"system_powerdown\"}\n".getBytes(StandardCharsets.UTF_8));
                return awaitReturn(in);
            } finally {
                deadline.cancel(false);
            }
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean awaitReturn(BufferedReader in) throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            if (line.contains("\"return\"")) {
                return true;
            }
            if (line.contains("\"error\"")) {
                return false;
            }
        }
        return false;
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // already closed
        }
    }
}
