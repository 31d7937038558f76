package nomadmirage.goplugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ServerStreamTest {
    /** Records what the stream did to the call, and fails on any use after the call ended. */
    static final class RecordingCall extends ServerCallStreamObserver<Integer> {
        final List<String> calls = new ArrayList<>();
        final List<String> violations = new ArrayList<>();
        Runnable onCancel;
        volatile boolean cancelled;
        private boolean ended;

        @Override
        public synchronized void onNext(Integer value) {
            if (ended) {
                violations.add("onNext after the call ended");
            }
            calls.add("next " + value);
        }

        @Override
        public synchronized void onError(Throwable t) {
            if (ended) {
                violations.add("onError after the call ended");
            }
            ended = true;
            calls.add("error");
        }

        @Override
        public synchronized void onCompleted() {
            if (ended) {
                violations.add("onCompleted after the call ended");
            }
            ended = true;
            calls.add("completed");
        }

        void cancelByPeer() {
            cancelled = true;
            onCancel.run();
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public void setOnCancelHandler(Runnable handler) {
            onCancel = handler;
        }

        @Override
        public void setCompression(String compression) {
        }

        @Override
        public boolean isReady() {
            return true;
        }

        @Override
        public void setOnReadyHandler(Runnable handler) {
        }

        @Override
        public void request(int count) {
        }

        @Override
        public void setMessageCompression(boolean enable) {
        }

        @Override
        public void disableAutoInboundFlowControl() {
        }
    }

    @Test
    void completesOnceAndDropsLaterSends() {
        RecordingCall call = new RecordingCall();
        ServerStream<Integer> stream = ServerStream.of(call);
        AtomicInteger closed = new AtomicInteger();
        stream.onClose(closed::incrementAndGet);
        assertTrue(stream.send(1));
        stream.complete();
        stream.complete();
        stream.fail(new RuntimeException("late"));
        assertFalse(stream.send(2));
        assertEquals(List.of("next 1", "completed"), call.calls);
        assertEquals(List.of(), call.violations);
        assertEquals(1, closed.get());
    }

    @Test
    void aPeerCancelRunsTheCloseHooksOnceAndTellsThePeerNothing() {
        RecordingCall call = new RecordingCall();
        ServerStream<Integer> stream = ServerStream.of(call);
        AtomicInteger unsubscribed = new AtomicInteger();
        stream.onClose(unsubscribed::incrementAndGet);
        call.cancelByPeer();
        stream.complete();
        assertEquals(1, unsubscribed.get());
        assertEquals(List.of(), call.calls);
        AtomicInteger late = new AtomicInteger();
        stream.onClose(late::incrementAndGet);
        assertEquals(1, late.get(), "a hook added after the end runs at once");
    }

    @Test
    void concurrentSendsNeverFollowTheEnd() throws Exception {
        for (int round = 0; round < 200; round++) {
            RecordingCall call = new RecordingCall();
            ServerStream<Integer> stream = ServerStream.of(call);
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> senders = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int base = t * 1000;
                senders.add(Thread.ofPlatform().start(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int i = 0; i < 50; i++) {
                        stream.send(base + i);
                    }
                }));
            }
            go.countDown();
            stream.complete();
            for (Thread t : senders) {
                t.join();
            }
            assertEquals(List.of(), call.violations);
            assertEquals("completed", call.calls.getLast());
        }
    }
}
