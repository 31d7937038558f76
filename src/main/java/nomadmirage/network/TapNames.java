package nomadmirage.network;

import java.util.regex.Pattern;

/**
 * Tap names derived from task and device: the same inputs always give the same
 * name, so a restarted plugin finds its taps without a listing, and the fixed
 * shape tells ours apart from other links that merely start with "mg".
 */
public final class TapNames {
    public static final String PREFIX = "mg";
    /** 65 bits of hash: collisions are out of reach, and prefix + 13 fits IFNAMSIZ (15). */
    private static final int HASH_CHARS = 13;
    private static final Pattern OURS = Pattern.compile(PREFIX + "[a-z2-7]{" + HASH_CHARS + "}");

    private TapNames() {
    }

    public static String forDevice(String taskId, String device) {
        return PREFIX + Hashes.base32(Hashes.sha256(taskId + "/" + device), HASH_CHARS);
    }

    /** Whether a link name has the shape of the taps this plugin creates. */
    public static boolean isOurs(String linkName) {
        return OURS.matcher(linkName).matches();
    }
}
