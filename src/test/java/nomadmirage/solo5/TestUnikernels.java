package nomadmirage.solo5;

import java.util.Map;

/** Valid Solo5 unikernel images for tests outside this package. */
public final class TestUnikernels {
    private TestUnikernels() {
    }

    /** An ELF64 image for {@code target} with the given manifest devices (in order). */
    public static byte[] image(AbiTarget target, int abiVersion, Map<String, DeviceType> devices) {
        TestElf elf = TestElf.unikernel().target(target, abiVersion);
        devices.forEach(elf::device);
        return elf.bytes();
    }
}
