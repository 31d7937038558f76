package nomadmirage.tender;

import java.util.Optional;
import nomadmirage.solo5.AbiTarget;

/** The programs that run Solo5 unikernels, and the ABI target each one runs. */
public enum TenderKind {
    SOLO5_HVT("solo5-hvt", AbiTarget.HVT),
    SOLO5_SPT("solo5-spt", AbiTarget.SPT),
    QEMU("qemu", AbiTarget.VIRTIO);

    private final String configName;
    private final AbiTarget target;

    TenderKind(String configName, AbiTarget target) {
        this.configName = configName;
        this.target = target;
    }

    /** The name a job uses in {@code tender = "..."}. */
    public String configName() {
        return configName;
    }

    public AbiTarget target() {
        return target;
    }

    public static Optional<TenderKind> forTarget(AbiTarget target) {
        for (TenderKind kind : values()) {
            if (kind.target == target) {
                return Optional.of(kind);
            }
        }
        return Optional.empty();
    }

    public static Optional<TenderKind> fromConfigName(String name) {
        for (TenderKind kind : values()) {
            if (kind.configName.equals(name)) {
                return Optional.of(kind);
            }
        }
        return Optional.empty();
    }
}
