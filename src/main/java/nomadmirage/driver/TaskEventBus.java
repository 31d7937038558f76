package nomadmirage.driver;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * Fans driver events out to every open TaskEvents stream. Delivery runs on one thread of its own,
 * in publishing order, so that a start or stop never waits for a stream's serialisation and send.
 */
public final class TaskEventBus {
    private final Set<Consumer<TaskEvent>> subscribers = ConcurrentHashMap.newKeySet();
    private final ExecutorService delivery =
            Executors.newSingleThreadExecutor(Thread.ofVirtual().name("task-events").factory());

    public void subscribe(Consumer<TaskEvent> subscriber) {
        subscribers.add(subscriber);
    }

    public void unsubscribe(Consumer<TaskEvent> subscriber) {
        subscribers.remove(subscriber);
    }

    public void publish(TaskEvent event) {
        delivery.execute(() -> {
            for (Consumer<TaskEvent> subscriber : subscribers) {
                try {
                    subscriber.accept(event);
                } catch (RuntimeException e) {
                    subscribers.remove(subscriber);
                }
            }
        });
    }
}
