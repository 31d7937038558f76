package nomadmirage.solo5;

import java.util.Objects;

/** What a Solo5 unikernel says about itself: its CPU, the ABI it needs and the devices it declares. */
public record Unikernel(ElfMachine machine, Abi abi, Manifest manifest) {
    public Unikernel {
        Objects.requireNonNull(machine, "machine");
        Objects.requireNonNull(abi, "abi");
        Objects.requireNonNull(manifest, "manifest");
    }
}
