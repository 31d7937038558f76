package nomadmirage.nomad;

import java.util.Map;
import nomadmirage.driver.Fingerprint;
import nomadmirage.proto.drivers.FingerprintResponse;
import nomadmirage.proto.structs.Attribute;

/** Fingerprint (domain) → FingerprintResponse (wire). */
final class FingerprintMapper {
    private FingerprintMapper() {
    }

    static FingerprintResponse toProto(Fingerprint fingerprint) {
        FingerprintResponse.Builder out = FingerprintResponse.newBuilder()
                .setHealth(switch (fingerprint.health()) {
                    case UNDETECTED -> FingerprintResponse.HealthState.UNDETECTED;
                    case UNHEALTHY -> FingerprintResponse.HealthState.UNHEALTHY;
                    case HEALTHY -> FingerprintResponse.HealthState.HEALTHY;
                })
                .setHealthDescription(fingerprint.description());
        for (Map.Entry<String, Object> e : fingerprint.attributes().entrySet()) {
            out.putAttributes(e.getKey(), attribute(e.getValue()));
        }
        return out.build();
    }

    static Attribute attribute(Object value) {
        Attribute.Builder a = Attribute.newBuilder();
        switch (value) {
            case Boolean b -> a.setBoolVal(b);
            case Long n -> a.setIntVal(n);
            case Integer n -> a.setIntVal(n);
            case Double d -> a.setFloatVal(d);
            default -> a.setStringVal(String.valueOf(value));
        }
        return a.build();
    }
}
