package nomadmirage.solo5;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The JSON objects solo5-elftool prints for query-abi and query-manifest
 * (elftool/elftool.c), with the same keys in the same order, on one line each.
 */
public final class ElftoolJson {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ElftoolJson() {
    }

    /** E.g. {@code {"type":"solo5.abi","target":"hvt","version":2}}. */
    public static String abi(Abi abi) {
        ObjectNode json = MAPPER.createObjectNode();
        json.put("type", "solo5.abi");
        json.put("target", abi.target().elftoolName());
        json.put("version", abi.version());
        return json.toString();
    }

    /** E.g. {@code {"type":"solo5.manifest","version":1,"devices":[{"name":"service0","type":"NET_BASIC"}]}}. */
    public static String manifest(Manifest manifest) {
        ObjectNode json = MAPPER.createObjectNode();
        json.put("type", "solo5.manifest");
        json.put("version", manifest.version());
        ArrayNode devices = json.putArray("devices");
        for (Device device : manifest.devices()) {
            devices.addObject().put("name", device.name()).put("type", device.type().name());
        }
        return json.toString();
    }
}
