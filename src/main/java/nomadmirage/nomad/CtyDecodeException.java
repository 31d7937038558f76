package nomadmirage.nomad;

/** The configuration bytes Nomad sent are not cty msgpack we can read. */
public final class CtyDecodeException extends Exception {
    public CtyDecodeException(String message) {
        super(message);
    }
}
