package nomadmirage.config;

/**
 * The uids the plugin hands out, one per task, to tasks that name no user (the agent's
 * {@code dynamic_user_min}/{@code dynamic_user_max}); each is also the task's gid. No passwd entry
 * is needed: a tender needs nothing but the numbers.
 */
public record UidRange(int min, int max) {
    public static final int DEFAULT_MIN = 80000;
    public static final int DEFAULT_MAX = 89999;

    public UidRange {
        if (min < 1 || max < min) {
            throw new IllegalArgumentException("a uid range is 1 <= min <= max: " + min + ".." + max);
        }
    }

    public static UidRange defaults() {
        return new UidRange(DEFAULT_MIN, DEFAULT_MAX);
    }

    public boolean contains(long uid) {
        return uid >= min && uid <= max;
    }

    public int size() {
        return max - min + 1;
    }

    @Override
    public String toString() {
        return min + ".." + max;
    }
}
