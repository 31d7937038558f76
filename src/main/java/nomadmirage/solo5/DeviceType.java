package nomadmirage.solo5;

import java.util.Optional;

/** Device types a manifest can declare (enum mft_type, include/mft_abi.h). */
public enum DeviceType {
    BLOCK_BASIC(1),
    NET_BASIC(2);

    private final int code;

    DeviceType(int code) {
        this.code = code;
    }

    /** The mft_type value stored in a manifest entry. */
    public int code() {
        return code;
    }

    public static Optional<DeviceType> fromCode(long code) {
        for (DeviceType type : values()) {
            if (type.code == code) {
                return Optional.of(type);
            }
        }
        return Optional.empty();
    }
}
