package nomadmirage.goplugin;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** The streams a service holds open, so that a stopping plugin can end them all from its side. */
public final class OpenStreams {
    private final Set<ServerStream<?>> open = ConcurrentHashMap.newKeySet();

    /** Tracks {@code stream} until it ends. */
    public <T> ServerStream<T> track(ServerStream<T> stream) {
        open.add(stream);
        stream.onClose(() -> open.remove(stream));
        return stream;
    }

    public void completeAll() {
        open.forEach(ServerStream::complete);
    }

    /** Ends every open stream with {@code error} (e.g. UNAVAILABLE: the plugin is going away). */
    public void failAll(Throwable error) {
        open.forEach(stream -> stream.fail(error));
    }

    public int size() {
        return open.size();
    }
}
