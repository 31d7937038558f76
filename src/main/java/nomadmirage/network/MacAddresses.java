package nomadmirage.network;

import java.util.HexFormat;
import java.util.Locale;

/** Guest MAC addresses: derived from the task (OUI + 3 hash bytes, as albatross does) or given by the job and checked. */
public final class MacAddresses {
    private static final HexFormat HEX = HexFormat.of();

    private MacAddresses() {
    }

    /** The MAC for a device; stable across restarts so the guest keeps its neighbours' ARP entries. */
    public static String derive(String oui, String taskId, String device) {
        return derive(oui, taskId, device, 0);
    }

    /**
     * The {@code attempt}-th candidate MAC; attempt 0 is {@link #derive(String, String, String)}. Later
     * attempts exist because 24 bits collide for a few hundred tasks with non-negligible odds.
     */
    public static String derive(String oui, String taskId, String device, int attempt) {
        byte[] prefix = parseOui(oui);
        String input = taskId + "/" + device + (attempt == 0 ? "" : "#" + attempt);
        byte[] hash = Hashes.sha256(input);
        byte[] mac = {prefix[0], prefix[1], prefix[2], hash[0], hash[1], hash[2]};
        return format(mac);
    }

    /** Parses a 3-byte OUI such as {@code 00:80:41}; it must be unicast. */
    public static byte[] parseOui(String oui) {
        byte[] bytes = octets(oui, 3);
        if (bytes == null) {
            throw new IllegalArgumentException("MAC OUI must be three hex octets such as 00:80:41: " + oui);
        }
        if ((bytes[0] & 1) != 0) {
            throw new IllegalArgumentException("MAC OUI " + oui + " is a multicast prefix (lowest bit of the first octet set)");
        }
        return bytes;
    }

    /**
     * Checks a MAC a job gave for {@code device} and returns it in lowercase colon form.
     *
     * @throws InvalidNetworkRequestException naming the device and the {@code mac} field
     */
    public static String parse(String device, String text) throws InvalidNetworkRequestException {
        byte[] bytes = octets(text, 6);
        if (bytes == null) {
            throw new InvalidNetworkRequestException(device, "mac", text,
                    "expected six hex octets separated by ':' such as 02:00:00:12:34:56");
        }
        if (isZero(bytes)) {
            throw new InvalidNetworkRequestException(device, "mac", text, "the all-zero address cannot be used by a device");
        }
        if ((bytes[0] & 1) != 0) {
            throw new InvalidNetworkRequestException(device, "mac", text,
                    "multicast and broadcast addresses cannot be used by a device (lowest bit of the first octet must be 0)");
        }
        return format(bytes);
    }

    private static boolean isZero(byte[] bytes) {
        for (byte b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] octets(String text, int count) {
        String[] parts = text.split(":", -1);
        if (parts.length != count) {
            return null;
        }
        byte[] out = new byte[count];
        for (int i = 0; i < count; i++) {
            if (!parts[i].matches("[0-9A-Fa-f]{2}")) {
                return null;
            }
            out[i] = (byte) Integer.parseInt(parts[i], 16);
        }
        return out;
    }

    static String format(byte[] mac) {
        StringBuilder out = new StringBuilder(17);
        for (int i = 0; i < mac.length; i++) {
            if (i > 0) {
                out.append(':');
            }
            out.append(HEX.toHexDigits(mac[i]));
        }
        return out.toString().toLowerCase(Locale.ROOT);
    }
}
