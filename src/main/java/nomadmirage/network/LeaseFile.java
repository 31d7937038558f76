package nomadmirage.network;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import nomadmirage.state.AtomicFiles;

/** The lease file's JSON form; callers hold the node lock. */
final class LeaseFile {
    static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .enable(SerializationFeature.INDENT_OUTPUT);

    record Content(
            @JsonProperty("version") int version,
            @JsonProperty("subnet") String subnet,
            @JsonProperty("leases") List<Lease> leases) {
        Content {
            leases = leases == null ? List.of() : List.copyOf(leases);
        }
    }

    private final Path path;

    LeaseFile(Path path) {
        this.path = path;
    }

    Path path() {
        return path;
    }

    /** The stored content, or empty content (no subnet yet) when the file does not exist. */
    Content read() throws NetworkSetupException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return new Content(VERSION, "", List.of());
        } catch (IOException e) {
            throw new NetworkSetupException("cannot read the lease file " + path + ": " + e.getMessage(), e);
        }
        Content content;
        try {
            content = JSON.readValue(bytes, Content.class);
        } catch (IOException e) {
            throw new NetworkSetupException("the lease file " + path + " is not readable JSON (move it aside to start"
                    + " with an empty pool): " + e.getMessage(), e);
        }
        if (content.version() != VERSION) {
            throw new NetworkSetupException("the lease file " + path + " has version " + content.version()
                    + "; this plugin reads version " + VERSION);
        }
        for (Lease lease : content.leases()) {
            if (lease.taskId() == null || nomadmirage.config.Ipv4Cidr.parseAddress(lease.ip()) == null) {
                throw new NetworkSetupException("the lease file " + path + " holds a malformed lease: " + lease);
            }
        }
        return content;
    }

    void write(Content content) throws NetworkSetupException {
        try {
            AtomicFiles.write(path, JSON.writeValueAsBytes(content));
        } catch (IOException e) {
            throw new NetworkSetupException("cannot write the lease file " + path + ": " + e.getMessage(), e);
        }
    }
}
