package nomadmirage.config;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Typed reads from decoded cty values, each failure naming the field. */
final class ConfigValues {
    private ConfigValues() {
    }

    static Optional<String> optionalString(Map<String, Object> raw, String key, String field) throws ConfigException {
        Object value = raw.get(key);
        if (value == null) {
            return Optional.empty();
        }
        if (!(value instanceof String s)) {
            throw new ConfigException(field, value, "expected a string");
        }
        return Optional.of(s);
    }

    static String requiredString(Map<String, Object> raw, String key, String field) throws ConfigException {
        Optional<String> value = optionalString(raw, key, field);
        if (value.isEmpty() || value.get().isBlank()) {
            throw new ConfigException(field, value.orElse(null), "this setting is required and must not be empty");
        }
        return value.get();
    }

    static List<String> stringList(Map<String, Object> raw, String key, String field) throws ConfigException {
        Object value = raw.get(key);
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> list)) {
            throw new ConfigException(field, value, "expected a list of strings");
        }
        List<String> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof String s)) {
                throw new ConfigException(field + "[" + i + "]", list.get(i), "expected a string");
            }
            out.add(s);
        }
        return out;
    }

    static Optional<Boolean> optionalBool(Map<String, Object> raw, String key, String field) throws ConfigException {
        Object value = raw.get(key);
        if (value == null) {
            return Optional.empty();
        }
        if (!(value instanceof Boolean b)) {
            throw new ConfigException(field, value, "expected true or false");
        }
        return Optional.of(b);
    }

    /** A whole number; cty may send it as an int, a float or a decimal string. */
    static Optional<Long> optionalLong(Map<String, Object> raw, String key, String field) throws ConfigException {
        Object value = raw.get(key);
        if (value == null) {
            return Optional.empty();
        }
        BigDecimal number;
        try {
            number = switch (value) {
                case Long l -> BigDecimal.valueOf(l);
                case BigDecimal d -> d;
                case String s -> new BigDecimal(s.trim());
                default -> throw new NumberFormatException();
            };
            return Optional.of(number.longValueExact());
        } catch (NumberFormatException | ArithmeticException e) {
            throw new ConfigException(field, value, "expected a whole number");
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> objectList(Map<String, Object> raw, String key, String field) throws ConfigException {
        Object value = raw.get(key);
        if (value == null) {
            return List.of();
        }
        if (value instanceof Map<?, ?> single) {
            return List.of((Map<String, Object>) single);
        }
        if (!(value instanceof List<?> list)) {
            throw new ConfigException(field, value, "expected " + key + " { ... } blocks");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw new ConfigException(field + "[" + i + "]", list.get(i), "expected a " + key + " { ... } block");
            }
            out.add((Map<String, Object>) m);
        }
        return out;
    }
}
