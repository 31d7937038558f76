package nomadmirage.driver;

import java.util.ArrayList;
import java.util.List;

/** How long each step of one StartTask or DestroyTask took, for the debug log (where a slow one spends its time). */
final class StartPhases {
    private final long begun = System.nanoTime();
    private long last = begun;
    private final List<Object> keyValues = new ArrayList<>();

    void mark(String phase) {
        long now = System.nanoTime();
        keyValues.add(phase + "_us");
        keyValues.add((now - last) / 1000);
        last = now;
    }

    Object[] keyValues(Object... leading) {
        List<Object> all = new ArrayList<>(List.of(leading));
        all.addAll(keyValues);
        all.add("total_us");
        all.add((last - begun) / 1000);
        return all.toArray();
    }
}
