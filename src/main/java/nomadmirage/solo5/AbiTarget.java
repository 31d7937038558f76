package nomadmirage.solo5;

import java.util.Optional;

/** The Solo5 target a unikernel was built for (enum abi_target, include/elf_abi.h). */
public enum AbiTarget {
    HVT(1, "hvt"),
    SPT(2, "spt"),
    VIRTIO(3, "virtio"),
    MUEN(4, "muen"),
    GENODE(5, "genode"),
    XEN(6, "xen");

    private final int code;
    private final String elftoolName;

    AbiTarget(int code, String elftoolName) {
        this.code = code;
        this.elftoolName = elftoolName;
    }

    /** The abi_target value stored in the ABI1 note. */
    public int code() {
        return code;
    }

    /** The name solo5-elftool query-abi prints, e.g. {@code "hvt"}. */
    public String elftoolName() {
        return elftoolName;
    }

    public static Optional<AbiTarget> fromCode(long code) {
        for (AbiTarget target : values()) {
            if (target.code == code) {
                return Optional.of(target);
            }
        }
        return Optional.empty();
    }

    static String knownCodes() {
        StringBuilder known = new StringBuilder();
        for (AbiTarget target : values()) {
            known.append(known.isEmpty() ? "" : ", ").append(target.code).append(' ').append(target.elftoolName);
        }
        return known.toString();
    }
}
