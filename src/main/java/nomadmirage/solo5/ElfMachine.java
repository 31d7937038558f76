package nomadmirage.solo5;

import java.util.Optional;

/** The ELF e_machine values Solo5 tenders load (tenders/common/elf.c, EM_TARGET). */
public enum ElfMachine {
    X86_64(62, "x86_64"),
    AARCH64(183, "aarch64");

    private final int code;
    private final String displayName;

    ElfMachine(int code, String displayName) {
        this.code = code;
        this.displayName = displayName;
    }

    public int code() {
        return code;
    }

    public String displayName() {
        return displayName;
    }

    public static Optional<ElfMachine> fromCode(int code) {
        for (ElfMachine machine : values()) {
            if (machine.code == code) {
                return Optional.of(machine);
            }
        }
        return Optional.empty();
    }
}
