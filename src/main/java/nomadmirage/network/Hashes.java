package nomadmirage.network;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** SHA-256 and a lowercase RFC 4648 base32 rendering (letters and 2-7: valid in interface names). */
final class Hashes {
    private static final char[] BASE32 = "abcdefghijklmnopqrstuvwxyz234567".toCharArray();

    private Hashes() {
    }

    static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    /** The first {@code chars} base32 characters of {@code bytes} (5 bits each). */
    static String base32(byte[] bytes, int chars) {
        StringBuilder out = new StringBuilder(chars);
        int buffer = 0;
        int bits = 0;
        int index = 0;
        while (out.length() < chars) {
            if (bits < 5) {
                buffer = buffer << 8 | (bytes[index++] & 0xff);
                bits += 8;
            }
            out.append(BASE32[buffer >>> (bits - 5) & 31]);
            bits -= 5;
        }
        return out.toString();
    }
}
