package nomadmirage.driver;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.StateDirectory;

/**
 * The plugin's own record of a task, in its root-owned run directory ({@code task.json}): the
 * driver state it handed to Nomad plus what it launched (shown by InspectTask and {@code status}).
 * Written once the tender runs, so a run directory without it is a start that was cut short.
 */
public record TaskRecord(@JsonProperty("driver_state") DriverState state, @JsonProperty("launch") Launch launch) {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** What was launched: display only, never acted on. */
    public record Launch(@JsonProperty("argv") List<String> argv, @JsonProperty("kernel") String kernel,
            @JsonProperty("memory_mb") long memoryMb, @JsonProperty("devices") List<String> devices) {
        public static final Launch UNKNOWN = new Launch(List.of(), "", 0, List.of());

        public Launch {
            argv = argv == null ? List.of() : List.copyOf(argv);
            devices = devices == null ? List.of() : List.copyOf(devices);
            kernel = kernel == null ? "" : kernel;
        }
    }

    void write(Path runDir) throws IOException {
        try {
            AtomicFiles.replace(StateDirectory.taskRecord(runDir), JSON.writeValueAsBytes(this));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("task record is always serialisable", e);
        }
    }

    /** The record in {@code runDir}; empty when there is none. */
    public static Optional<TaskRecord> read(Path runDir) throws IOException {
        Path file = StateDirectory.taskRecord(runDir);
        if (!Files.isRegularFile(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        TaskRecord record = JSON.readValue(Files.readAllBytes(file), TaskRecord.class);
        if (record.state() == null || record.launch() == null) {
            throw new IOException(file + ": incomplete task record");
        }
        return Optional.of(record);
    }
}
