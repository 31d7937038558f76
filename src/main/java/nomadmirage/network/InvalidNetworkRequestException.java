package nomadmirage.network;

/**
 * The job asked for something that can never work on this node (a multicast MAC,
 * an address outside the subnet, one already taken by another task); retrying
 * the same request does not help.
 */
public final class InvalidNetworkRequestException extends NetworkSetupException {
    private final String device;
    private final String field;
    private final String value;

    public InvalidNetworkRequestException(String device, String field, String value, String reason) {
        super("network device \"" + device + "\": " + field + " \"" + value + "\": " + reason);
        this.device = device;
        this.field = field;
        this.value = value;
    }

    public String device() {
        return device;
    }

    /** The request's field, e.g. {@code mac} or {@code address}. */
    public String field() {
        return field;
    }

    public String value() {
        return value;
    }
}
