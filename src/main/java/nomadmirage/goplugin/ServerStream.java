package nomadmirage.goplugin;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;

/**
 * The server side of one long-lived gRPC stream (fingerprint, task events, wait, stats, broker,
 * stdio). Sends are serialised and dropped once the stream is closed; it ends exactly once — by
 * {@link #complete()}, {@link #fail}, or the peer cancelling — and then runs its close hooks (e.g.
 * unsubscribing from an event source) exactly once, on whichever of those came first.
 */
public final class ServerStream<T> {
    private final ServerCallStreamObserver<T> call;
    private final Object lock = new Object();
    private final List<Runnable> closeHooks = new ArrayList<>();
    private boolean closed;

    private ServerStream(ServerCallStreamObserver<T> call) {
        this.call = call;
    }

    /** Must be called from the RPC method itself, before it returns (gRPC's rule for cancel handlers). */
    public static <T> ServerStream<T> of(StreamObserver<T> observer) {
        ServerStream<T> stream = new ServerStream<>((ServerCallStreamObserver<T>) observer);
        stream.call.setOnCancelHandler(() -> stream.close(null, false));
        return stream;
    }

    /** Sends one message; false (and nothing sent) once the stream has ended. */
    public boolean send(T message) {
        synchronized (lock) {
            if (closed) {
                return false;
            }
            try {
                call.onNext(message);
                return true;
            } catch (RuntimeException peerGone) {
                // The peer cancelled between our check and the send; the cancel handler closes.
                return false;
            }
        }
    }

    public void complete() {
        close(null, true);
    }

    public void fail(Throwable error) {
        close(error, true);
    }

    public boolean isOpen() {
        synchronized (lock) {
            return !closed;
        }
    }

    /** Runs {@code hook} once when the stream ends (at once if it already has). */
    public void onClose(Runnable hook) {
        synchronized (lock) {
            if (!closed) {
                closeHooks.add(hook);
                return;
            }
        }
        hook.run();
    }

    private void close(Throwable error, boolean tellPeer) {
        List<Runnable> hooks;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            if (tellPeer && !call.isCancelled()) {
                try {
                    if (error == null) {
                        call.onCompleted();
                    } else {
                        call.onError(error);
                    }
                } catch (RuntimeException peerGone) {
                    // cancelled meanwhile: nothing to tell
                }
            }
            hooks = List.copyOf(closeHooks);
            closeHooks.clear();
        }
        hooks.forEach(Runnable::run);
    }
}
