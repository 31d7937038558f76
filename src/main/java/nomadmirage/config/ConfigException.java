package nomadmirage.config;

/**
 * A configuration value is not acceptable. The message always names the field,
 * the offending value and what is allowed, so an operator can fix it.
 */
public final class ConfigException extends Exception {
    private final String field;

    public ConfigException(String field, Object value, String allowed) {
        super(field + ": " + render(value) + " is not valid; " + allowed);
        this.field = field;
    }

    public String field() {
        return field;
    }

    private static String render(Object value) {
        return value instanceof String s ? "\"" + s + "\"" : String.valueOf(value);
    }
}
