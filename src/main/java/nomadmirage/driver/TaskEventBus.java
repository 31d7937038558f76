package nomadmirage.driver;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/** Fans driver events out to every open TaskEvents stream. */
public final class TaskEventBus {
    private final Set<Consumer<TaskEvent>> subscribers = ConcurrentHashMap.newKeySet();

    public void subscribe(Consumer<TaskEvent> subscriber) {
        subscribers.add(subscriber);
    }

    public void unsubscribe(Consumer<TaskEvent> subscriber) {
        subscribers.remove(subscriber);
    }

    public void publish(TaskEvent event) {
        for (Consumer<TaskEvent> subscriber : subscribers) {
            try {
                subscriber.accept(event);
            } catch (RuntimeException e) {
                subscribers.remove(subscriber);
            }
        }
    }
}
