package nomadmirage.driver;

/** Nomad's task id, {@code <alloc_id>/<task_name>/<random>}; new for every start. */
public record TaskId(String value) {
    public TaskId {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("task id must not be empty");
        }
    }

    /** A file-name-safe form, unique per task id, for directories we own. */
    public String fileName() {
        StringBuilder out = new StringBuilder(value.length());
        for (char c : value.toCharArray()) {
            out.append(Character.isLetterOrDigit(c) || c == '-' || c == '_' ? c : '.');
        }
        return out.toString();
    }

    @Override
    public String toString() {
        return value;
    }
}
