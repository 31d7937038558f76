package nomadmirage.driver;

import java.util.Map;
import java.util.TreeMap;

/**
 * One fingerprint of the node: health, a description an operator can act on,
 * and attributes (values are String, Long, Double or Boolean) published as
 * node attributes under {@code driver.mirage.*}.
 */
public record Fingerprint(Health health, String description, Map<String, Object> attributes) {
    public Fingerprint {
        attributes = java.util.Collections.unmodifiableMap(new TreeMap<>(attributes));
    }
}
