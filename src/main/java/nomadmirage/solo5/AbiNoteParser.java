package nomadmirage.solo5;

import java.nio.ByteBuffer;

/** Reads struct abi1_info (include/elf_abi.h) from the ABI note's content. */
final class AbiNoteParser {
    /** abi_target and abi_version; the two reserved words that follow are not read by anyone. */
    private static final int MIN_SIZE = 8;

    private AbiNoteParser() {
    }

    static Abi parse(ByteBuffer content, long fileOffset) throws ManifestException {
        // The tenders would read abi_target and abi_version past a shorter note; we refuse instead.
        if (content.remaining() < MIN_SIZE) {
            throw new ManifestException("ABI note (ABI1) at offset " + Hex.of(fileOffset) + " holds " + content.remaining()
                    + " bytes, too few for abi_target and abi_version (" + MIN_SIZE + ")");
        }
        long targetCode = Integer.toUnsignedLong(content.getInt(0));
        AbiTarget target = AbiTarget.fromCode(targetCode).orElseThrow(() -> new ManifestException(
                "ABI note: unknown abi_target " + targetCode + " at offset " + Hex.of(fileOffset)
                        + " (known: " + AbiTarget.knownCodes() + ")"));
        int version = content.getInt(4);
        if (version < 0) {
            throw new ManifestException("ABI note: abi_version " + Integer.toUnsignedString(version) + " at offset "
                    + Hex.of(fileOffset + 4) + " is implausibly large (Solo5 ABI versions are small numbers)");
        }
        return new Abi(target, version);
    }
}
