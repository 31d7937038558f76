package nomadmirage.solo5;

import java.util.Objects;

/**
 * The ABI a unikernel requests (struct abi1_info, include/elf_abi.h). A tender
 * runs only its own target and version, e.g. solo5-hvt needs hvt version 2.
 */
public record Abi(AbiTarget target, int version) {
    public Abi {
        Objects.requireNonNull(target, "target");
        if (version < 0) {
            throw new IllegalArgumentException("ABI version must not be negative: " + version);
        }
    }
}
