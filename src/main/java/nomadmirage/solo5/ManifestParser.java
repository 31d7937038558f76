package nomadmirage.solo5;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads struct mft (include/mft_abi.h, LP64 layout) from the manifest note's
 * content. It first applies every rule of mft_validate (tenders/common/mft.c),
 * then refuses what a tender would accept but could never start, because a
 * declared device that cannot be attached makes the tender exit
 * (tenders/hvt/hvt_main.c: "All declared devices must be attached"):
 * unknown device types, names that the --net:/--block: options cannot spell
 * (sscanf "[A-Za-z0-9]" in the tender modules, the isalnum rule of
 * solo5-elftool gen-manifest) and a second device of the same name and type
 * (mft_get_by_name only ever finds the first).
 */
final class ManifestParser {
    static final int VERSION = 1;
    static final int MAX_ENTRIES = 64;
    static final int HEADER_SIZE = 8;
    static final int ENTRY_SIZE = 104;
    static final int NAME_SIZE = 68;
    static final long RESERVED_FIRST = 1L << 30;

    private static final int TYPE_OFFSET = 68;
    private static final int ATTACHED_OFFSET = 96;

    private ManifestParser() {
    }

    static Manifest parse(ByteBuffer content, long fileOffset) throws ManifestException {
        Entries entries = validate(content, fileOffset);
        List<Device> devices = new ArrayList<>();
        Map<Device, Integer> firstIndex = new HashMap<>();
        for (int i = 1; i < entries.count(); i++) {
            long type = entries.type(i);
            if (type >= RESERVED_FIRST) {
                // Reserved types are skipped, not refused, by solo5-elftool query-manifest and the tenders.
                continue;
            }
            Device device = new Device(entries.name(i), entries.deviceType(i, type));
            Integer earlier = firstIndex.putIfAbsent(device, i);
            if (earlier != null) {
                throw entries.invalid(i, "duplicates the " + device.type() + " device \"" + device.name() + "\" of entry "
                        + earlier + "; a tender can attach only the first");
            }
            devices.add(device);
        }
        return new Manifest(VERSION, devices);
    }

    /** The checks of mft_validate, in its order. */
    private static Entries validate(ByteBuffer content, long fileOffset) throws ManifestException {
        int size = content.remaining();
        String where = "manifest at offset " + Hex.of(fileOffset);
        if (size < HEADER_SIZE) {
            throw new ManifestException(where + " is " + size + " bytes, smaller than its " + HEADER_SIZE + "-byte header");
        }
        int version = content.getInt(0);
        if (version != VERSION) {
            throw new ManifestException(where + ": version " + Integer.toUnsignedString(version)
                    + " is not supported, expected " + VERSION);
        }
        long count = Integer.toUnsignedLong(content.getInt(4));
        if (count > MAX_ENTRIES) {
            throw new ManifestException(where + ": entries " + count + " at offset " + Hex.of(fileOffset + 4)
                    + " exceeds the maximum of " + MAX_ENTRIES);
        }
        long expected = HEADER_SIZE + count * ENTRY_SIZE;
        if (size != expected) {
            throw new ManifestException(where + " is " + size + " bytes but its " + count + " entries need exactly "
                    + expected + " (" + HEADER_SIZE + " + " + count + " x " + ENTRY_SIZE + "), i.e. a note n_descsz of "
                    + (expected + NoteKind.MANIFEST.padding()));
        }
        if (count < 1) {
            throw new ManifestException(where + " has no entries; the first entry must be the reserved one");
        }
        Entries entries = new Entries(content, fileOffset, (int) count);
        if (entries.type(0) != RESERVED_FIRST) {
            throw entries.invalid(0, "type " + entries.type(0) + " at offset " + Hex.of(entries.offset(0) + TYPE_OFFSET)
                    + "; the first entry must be the reserved one (type " + RESERVED_FIRST + ")");
        }
        if (content.get(entries.at(0)) != 0) {
            throw entries.invalid(0, "the reserved first entry must have an empty name");
        }
        for (int i = 0; i < entries.count(); i++) {
            if (content.get(entries.at(i) + NAME_SIZE - 1) != 0) {
                throw entries.invalid(i, "name is not NUL-terminated within " + NAME_SIZE + " bytes (byte at offset "
                        + Hex.of(entries.offset(i) + NAME_SIZE - 1) + " is not 0)");
            }
            int attached = Byte.toUnsignedInt(content.get(entries.at(i) + ATTACHED_OFFSET));
            if (attached != 0) {
                throw entries.invalid(i, "attached flag at offset " + Hex.of(entries.offset(i) + ATTACHED_OFFSET) + " is "
                        + attached + "; it must be false in a file");
            }
        }
        return entries;
    }

    /** Access to the fixed-size entries of a manifest whose size has been checked. */
    private record Entries(ByteBuffer content, long fileOffset, int count) {
        int at(int index) {
            return HEADER_SIZE + index * ENTRY_SIZE;
        }

        long offset(int index) {
            return fileOffset + at(index);
        }

        long type(int index) {
            return Integer.toUnsignedLong(content.getInt(at(index) + TYPE_OFFSET));
        }

        DeviceType deviceType(int index, long type) throws ManifestException {
            return DeviceType.fromCode(type).orElseThrow(() -> invalid(index, "type " + type + " at offset "
                    + Hex.of(offset(index) + TYPE_OFFSET) + " is unknown (known: 1 BLOCK_BASIC, 2 NET_BASIC)"));
        }

        String name(int index) throws ManifestException {
            byte[] bytes = new byte[NAME_SIZE];
            content.get(at(index), bytes);
            int length = 0;
            while (bytes[length] != 0) { // ends by byte 67, which validate() found to be NUL
                length++;
            }
            if (length == 0) {
                throw invalid(index, "device name is empty");
            }
            for (int i = 0; i < length; i++) {
                if (!isAsciiAlphanumeric(bytes[i])) {
                    throw invalid(index, "name " + Hex.quote(bytes, length)
                            + " is not alphanumeric, so no --net:NAME or --block:NAME option can attach it");
                }
            }
            return new String(bytes, 0, length, StandardCharsets.US_ASCII);
        }

        ManifestException invalid(int index, String problem) {
            return new ManifestException("manifest entry " + index + " at offset " + Hex.of(offset(index)) + ": " + problem);
        }

        private static boolean isAsciiAlphanumeric(byte b) {
            return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
        }
    }
}
