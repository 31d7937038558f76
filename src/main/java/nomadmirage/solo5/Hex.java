package nomadmirage.solo5;

/** Formats file offsets and raw field values for error messages. */
final class Hex {
    private Hex() {
    }

    /** An ELF u64 read into a long, shown unsigned. */
    static String of(long value) {
        return "0x" + Long.toUnsignedString(value, 16);
    }

    /** Raw bytes from the file, shown so that hostile content cannot garble a message or terminal. */
    static String quote(byte[] bytes, int length) {
        StringBuilder quoted = new StringBuilder("\"");
        for (int i = 0; i < length; i++) {
            int b = bytes[i] & 0xff;
            if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
                quoted.append((char) b);
            } else {
                quoted.append(String.format("\\x%02x", b));
            }
        }
        return quoted.append('"').toString();
    }
}
