package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** One device as attached: the tap the tender opens and what the guest must configure. */
public record DeviceAttachment(
        @JsonProperty("device") String device,
        @JsonProperty("tap") String tap,
        @JsonProperty("mac") String mac,
        @JsonProperty("ip") String ip,
        @JsonProperty("prefix_length") int prefixLength,
        @JsonProperty("gateway") String gateway,
        @JsonProperty("forwards") List<PortForward> forwards) {

    public DeviceAttachment {
        forwards = forwards == null ? List.of() : List.copyOf(forwards);
    }

    /** The guest's address in CIDR form, e.g. {@code 10.99.0.2/16}, as MirageOS' {@code --ipv4} wants it. */
    public String cidr() {
        return ip + "/" + prefixLength;
    }
}
